/** Number formatting for cards and panels. */

/** 260032 → "260.0K", 124439808 → "124.4M", 1.5e9 → "1.50B". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** 260032 → "260,032". */
export function formatInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

export function formatLoss(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(4);
}

export function formatRate(tokensPerS: number | undefined): string {
  if (tokensPerS === undefined || !Number.isFinite(tokensPerS)) return '—';
  return tokensPerS >= 1000 ? `${(tokensPerS / 1000).toFixed(1)}K tok/s` : `${tokensPerS.toFixed(0)} tok/s`;
}

export function formatPercent(part: number, whole: number): string {
  if (!(whole > 0)) return '—';
  const p = (100 * part) / whole;
  return p < 0.01 && p > 0 ? '<0.01%' : `${p.toFixed(2)}%`;
}
