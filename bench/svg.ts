// The benchmark chart: speedup over our dense kernel against sparsity, per dtype and N, with the
// byte-count limit of each format drawn (dense bytes / format bytes: what a purely memory-bound
// kernel could gain).
// vsDense is the speed-up: dense time / format time (higher is better).
interface Point { dtype: string; n: number; format: string; sparsity: number; vsDense: number }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#e377c2'];

export function speedupChart(rows: Point[], bandwidthGBs: number): string {
  const W = 760, H = 480, L = 60, R = 190, T = 40, B = 50;
  const xs = (s: number) => L + (s / 1) * (W - L - R);
  const ymax = 8;
  const ys = (v: number) => H - B - (Math.min(v, ymax) / ymax) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="22" font-size="14">Speedup over our dense kernel, 11008x4096 (read bandwidth ${bandwidthGBs.toFixed(0)} GB/s)</text>`);
  for (let s = 0; s <= 1.0001; s += 0.1) {
    out.push(`<line x1="${xs(s)}" y1="${H - B}" x2="${xs(s)}" y2="${T}" stroke="#eee"/>`);
    out.push(`<text x="${xs(s)}" y="${H - B + 16}" text-anchor="middle">${Math.round(s * 100)}%</text>`);
  }
  for (let v = 0; v <= ymax; v++) {
    out.push(`<line x1="${L}" y1="${ys(v)}" x2="${W - R}" y2="${ys(v)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 8}" y="${ys(v) + 4}" text-anchor="end">${v}x</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">sparsity</text>`);
  // Byte-count limits for 16-bit values: bitmap 2 / (1/8 + 2d), csr 2 / (6d); fp32: 4 / (1/8 + 4d), 4 / (8d).
  const limit = (b: number, f: (d: number) => number, dash: string, label: string, y: number) => {
    const pts: string[] = [];
    for (let s = 0; s <= 0.951; s += 0.01) pts.push(`${xs(s).toFixed(1)},${ys(b / f(1 - s)).toFixed(1)}`);
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#888" stroke-dasharray="${dash}"/>`);
    out.push(`<line x1="${W - R + 10}" y1="${y}" x2="${W - R + 34}" y2="${y}" stroke="#888" stroke-dasharray="${dash}"/>`);
    out.push(`<text x="${W - R + 38}" y="${y + 4}">${label}</text>`);
  };
  limit(2, (d) => 1 / 8 + 2 * d, '6,3', 'bitmap byte limit (16-bit)', T + 10);
  limit(2, (d) => 6 * d, '2,3', 'csr byte limit (16-bit)', T + 26);
  let legendY = T + 52, ci = 0;
  const series = new Map<string, Point[]>();
  for (const r of rows) {
    if (r.format === 'dense' || r.format === 'onnxruntime') continue;
    const key = `${r.dtype} N=${r.n}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  for (const [key, pts] of series) {
    const color = COLORS[ci++ % COLORS.length]!;
    const bitmap = pts.filter((p) => p.format === 'bitmap').sort((a, b) => a.sparsity - b.sparsity);
    if (bitmap.length > 1)
      out.push(`<polyline points="${bitmap.map((p) => `${xs(p.sparsity).toFixed(1)},${ys(p.vsDense).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}"/>`);
    for (const p of pts) {
      const x = xs(p.sparsity), y = ys(p.vsDense);
      if (p.format === 'bitmap') out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="${color}"/>`);
      else if (p.format === 'nm') out.push(`<rect x="${(x - 4).toFixed(1)}" y="${(y - 4).toFixed(1)}" width="8" height="8" fill="${color}"/>`);
      else out.push(`<path d="M${x.toFixed(1)},${(y - 5).toFixed(1)} l5,9 h-10 z" fill="${color}"/>`);
    }
    out.push(`<circle cx="${W - R + 22}" cy="${legendY}" r="4" fill="${color}"/><text x="${W - R + 38}" y="${legendY + 4}">${key}</text>`);
    legendY += 16;
  }
  out.push(`<text x="${W - R + 10}" y="${legendY + 12}">circle bitmap, square 2:4,</text>`);
  out.push(`<text x="${W - R + 10}" y="${legendY + 26}">triangle csr</text>`);
  out.push('</svg>');
  return out.join('\n');
}
