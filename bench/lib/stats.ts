// Percentiles of a sample, the way the bench reports every latency (ms, 3 decimals).

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles; all zero for an empty sample. */
export function percentiles(sample: readonly number[]): Percentiles {
  if (sample.length === 0) return { n: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const s = [...sample].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { n: s.length, p50: r(at(50)), p90: r(at(90)), p99: r(at(99)), max: r(s[s.length - 1]), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}
