/** A moment shown in the browser's time zone, with its UTC value on hover. */
export function Time({ value, relative = false }: { value: string | undefined | null; relative?: boolean }) {
  if (!value) return <span className="muted">—</span>;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return <span>{value}</span>;
  const utc = d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return (
    <time dateTime={d.toISOString()} title={utc}>
      {relative ? ago(d) : formatLocal(d)}
    </time>
  );
}

/** `2026-12-07 09:41:05` in the browser's time zone. */
export function formatLocal(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `3 min ago`, `2 h ago`, `5 d ago`. */
export function ago(d: Date, now = new Date()): string {
  const s = Math.round((now.getTime() - d.getTime()) / 1000);
  if (s < 0) return formatLocal(d);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}
