/**
 * The native symmetric eigensolver (sliceHidden's PCA) on a random symmetric n×n float64 matrix:
 * wall and process CPU time. `npx tsx bench/eigen.ts [n=4096]`; SPARSEKIT_NUM_THREADS=1 for one thread.
 */
import { cpuInfo } from '../lib/index.js';
import { symmetricEigen } from '../lib/model/slice.js';

const n = Number(process.argv[2] ?? 4096);
let s = 12345;
const rnd = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
const a = new Float64Array(n * n);
for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = rnd(); a[i * n + j] = v; a[j * n + i] = v; }
const c0 = process.cpuUsage();
const t0 = performance.now();
await symmetricEigen(a, n);
const cpu = process.cpuUsage(c0);
console.log(`symmetricEigen n=${n}: ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU, isa ${cpuInfo().isa}`);
