import { html, type SafeHtml } from './html';

export interface Series {
  name: string;
  /** A CSS class giving the series its colour (light and dark variants live in the stylesheet). */
  cls: string;
  values: (number | null)[];
}

const W = 420;
const H = 190;
const PAD = { left: 40, right: 8, top: 10, bottom: 24 };

/** 1, 2, 5 × 10ⁿ: a y-axis top that reads well. */
function niceCeiling(max: number): number {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

function fmt(n: number, unit: string): string {
  if (unit !== 's') return String(Math.round(n));
  if (n >= 10) return `${Math.round(n)}s`;
  return `${n >= 1 ? Math.round(n * 10) / 10 : Math.round(n * 100) / 100}s`;
}

/**
 * A server-side SVG line chart: no script, no inline style (colours come from classes, so the chart follows
 * light and dark mode), a <title> per point for hover, and the numbers in a table for screen readers.
 */
export function lineChart(opts: { title: string; labels: string[]; series: Series[]; unit?: string }): SafeHtml {
  const unit = opts.unit ?? '';
  const n = opts.labels.length;
  const highest = Math.max(0, ...opts.series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  // Counts get whole-number grid lines (four steps of 1, 2, 5 × 10ⁿ); durations a round top.
  const max = unit === 's' ? niceCeiling(highest) : 4 * Math.max(1, niceCeiling(highest / 4));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i: number): number => PAD.left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number): number => PAD.top + plotH - (v / max) * plotH;
  const r = (v: number): string => v.toFixed(1);

  const gridLines = [0, 0.25, 0.5, 0.75, 1].map(
    (f) => html`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${r(y(max * f))}" y2="${r(y(max * f))}"/>
      <text x="${PAD.left - 4}" y="${r(y(max * f) + 3)}" text-anchor="end">${fmt(max * f, unit)}</text>`,
  );
  const xLabels = opts.labels.map((label, i) =>
    i % 6 === 0 || i === n - 1
      ? html`<text x="${r(x(i))}" y="${H - 6}" text-anchor="${i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle'}">${label}</text>`
      : null,
  );
  const lines = opts.series.map((s) => {
    // A gap (null: no data that hour) breaks the line rather than drawing a false zero.
    const segments: string[] = [];
    let current = '';
    s.values.forEach((v, i) => {
      if (v === null) {
        if (current) segments.push(current);
        current = '';
        return;
      }
      current += `${current ? 'L' : 'M'}${r(x(i))},${r(y(v))}`;
    });
    if (current) segments.push(current);
    const dots = s.values.map((v, i) =>
      v === null
        ? null
        : html`<circle class="dot ${s.cls}" cx="${r(x(i))}" cy="${r(y(v))}" r="2.5"><title>${s.name} ${opts.labels[i]}: ${fmt(v, unit)}</title></circle>`,
    );
    return html`<g>${segments.map((d) => html`<path class="series ${s.cls}" d="${d}"/>`)}${dots}</g>`;
  });

  return html`<figure class="card">
    <h2>${opts.title}</h2>
    <div class="legend">${opts.series.map((s) => html`<span class="key ${s.cls}">${s.name}</span>`)}</div>
    <svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${opts.title}">${gridLines}${xLabels}${lines}</svg>
    <details class="small"><summary class="muted">numbers</summary>
      <div class="table-wrap"><table>
        <thead><tr><th>hour (UTC)</th>${opts.series.map((s) => html`<th class="num">${s.name}</th>`)}</tr></thead>
        <tbody>${opts.labels.map(
          (label, i) =>
            html`<tr><td>${label}</td>${opts.series.map((s) => html`<td class="num">${s.values[i] === null ? '–' : fmt(s.values[i]!, unit)}</td>`)}</tr>`,
        )}</tbody>
      </table></div>
    </details>
  </figure>`;
}
