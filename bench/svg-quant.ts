// The quantized benchmark's chart (bench/cpu-quant.ts): per variant at one N, the cold time as a
// fraction of our dense bf16 kernel's in the same run (bars), its byte limit (bytes / measured
// read bandwidth, as the same fraction: what a purely memory-bound kernel would take; ticks) and
// the target where there is one (red ticks).
export interface QuantBar { label: string; ratio: number; limit: number; target?: number }

export function quantChart(bars: QuantBar[], title: string): string {
  const W = 760, rowH = 22, L = 210, R = 40, T = 50, B = 40, H = T + B + rowH * bars.length;
  const xmax = Math.max(1.5, ...bars.map((b) => Math.min(b.ratio, 4)));
  const xs = (v: number) => L + (Math.min(v, xmax) / xmax) * (W - L - R);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="14">${title}</text>`);
  out.push(`<text x="10" y="38">bar: cold time / dense bf16; grey tick: byte limit; red tick: #20 target (lower is better)</text>`);
  for (let v = 0; v <= xmax + 1e-9; v += 0.25) {
    out.push(`<line x1="${xs(v).toFixed(1)}" y1="${T}" x2="${xs(v).toFixed(1)}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${xs(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${v.toFixed(2)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = T + i * rowH;
    out.push(`<text x="${L - 8}" y="${y + 15}" text-anchor="end">${b.label}</text>`);
    out.push(`<rect x="${L}" y="${y + 4}" width="${(xs(b.ratio) - L).toFixed(1)}" height="${rowH - 8}" fill="#1f77b4"/>`);
    out.push(`<line x1="${xs(b.limit).toFixed(1)}" y1="${y + 1}" x2="${xs(b.limit).toFixed(1)}" y2="${y + rowH - 1}" stroke="#555" stroke-width="3"/>`);
    if (b.target !== undefined)
      out.push(`<line x1="${xs(b.target).toFixed(1)}" y1="${y + 1}" x2="${xs(b.target).toFixed(1)}" y2="${y + rowH - 1}" stroke="#d62728" stroke-width="3"/>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
