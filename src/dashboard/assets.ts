import { createHash } from 'node:crypto';

/**
 * The dashboard's stylesheet and script, served from /dashboard/assets/ under content-hashed names (so they
 * can be cached for a year) and kept out of the HTML (so the Content-Security-Policy needs no 'unsafe-inline').
 */

const CSS = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1c2430; --muted: #5d6b7e; --line: #dfe4ea; --panel: #f6f8fa; --link: #0b5cad;
  --ok: #1a7f37; --info: #0969da; --warn: #9a6700; --bad: #cf222e; --grey: #6e7781; --accent: #8250df;
  --s-sent: #0969da; --s-delivered: #1a7f37; --s-bounced: #cf222e; --s-complained: #bf3989; --s-failed: #9a6700; --s-expired: #6e7781;
  --s-p50: #0969da; --s-p95: #cf222e;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --panel: #161b22; --link: #58a6ff;
    --ok: #3fb950; --info: #58a6ff; --warn: #d29922; --bad: #f85149; --grey: #8b949e; --accent: #bc8cff;
    --s-sent: #58a6ff; --s-delivered: #3fb950; --s-bounced: #f85149; --s-complained: #f778ba; --s-failed: #d29922; --s-expired: #8b949e;
    --s-p50: #58a6ff; --s-p95: #f85149;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; margin: 0; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px; padding: 8px 16px; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 600; margin-right: 8px; }
header.top nav { display: flex; flex-wrap: wrap; gap: 4px 14px; flex: 1; }
header.top nav a.active { font-weight: 600; color: var(--fg); }
header.top form { margin: 0; }
main { padding: 16px; max-width: 1280px; margin: 0 auto; }
h1 { font-size: 20px; margin: 0 0 12px; } h1.mono { font-size: 17px; overflow-wrap: anywhere; }
figure { margin: 0; } h2 { font-size: 16px; margin: 24px 0 8px; }
.muted { color: var(--muted); } .small { font-size: 12px; }
.notice { padding: 8px 12px; border-radius: 6px; border: 1px solid var(--line); background: var(--panel); margin-bottom: 12px; }
.notice.error { border-color: var(--bad); color: var(--bad); }
.notice.ok { border-color: var(--ok); color: var(--ok); }
.card.attention { border-color: var(--bad); margin-bottom: 16px; } .attention ul { margin: 0; padding-left: 20px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
form.filters .search { flex: 1 1 280px; }
input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 5px 8px; }
input[type=search], input[type=text], input[type=password] { width: 100%; }
button { cursor: pointer; background: var(--panel); }
button.primary { background: var(--info); border-color: var(--info); color: #fff; }
button.danger { border-color: var(--bad); color: var(--bad); }
button.link { border: 0; background: none; color: var(--link); padding: 0; }
/* A table wider than the screen scrolls inside its frame; the shadow at an edge says there is more that way. */
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px;
  background: linear-gradient(to right, var(--bg) 30%, transparent), linear-gradient(to left, var(--bg) 30%, transparent) 100% 0,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.25), transparent), radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.25), transparent) 100% 0;
  background-repeat: no-repeat; background-size: 40px 100%, 40px 100%, 14px 100%, 14px 100%; background-attachment: local, local, scroll, scroll; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--panel); white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.st-queued, .st-sending { color: var(--info); } .st-sent { color: var(--accent); } .st-delivered { color: var(--ok); }
.st-delayed { color: var(--warn); } .st-bounced, .st-complained, .st-failed { color: var(--bad); }
.st-suppressed, .st-expired { color: var(--grey); }
.st-send_failed, .st-failover, .st-provider_skipped, .st-fallback { color: var(--warn); } .st-received, .st-retried { color: var(--muted); }
.st-clerk_writeback { color: var(--accent); } .st-delivery_delayed { color: var(--warn); } .st-opened, .st-clicked { color: var(--muted); }
.lvl-ok { color: var(--ok); } .lvl-warn { color: var(--warn); } .lvl-page { color: var(--bad); font-weight: 600; } .lvl-unknown { color: var(--grey); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; margin-bottom: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px; background: var(--bg); }
.card h2 { margin-top: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 96px; }
.tile .n { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.actions form { margin: 0; }
.pager { margin-top: 12px; display: flex; gap: 12px; }
.login { max-width: 360px; margin: 10vh auto; }
.login form { display: flex; flex-direction: column; gap: 8px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { fill: var(--muted); font-size: 12px; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .series { fill: none; stroke-width: 2; }
svg.chart .dot { stroke: none; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; }
.legend .key::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; background: currentColor; }
.c-sent { color: var(--s-sent); stroke: var(--s-sent); fill: var(--s-sent); }
.c-delivered { color: var(--s-delivered); stroke: var(--s-delivered); fill: var(--s-delivered); }
.c-bounced { color: var(--s-bounced); stroke: var(--s-bounced); fill: var(--s-bounced); }
.c-complained { color: var(--s-complained); stroke: var(--s-complained); fill: var(--s-complained); }
.c-failed { color: var(--s-failed); stroke: var(--s-failed); fill: var(--s-failed); }
.c-expired { color: var(--s-expired); stroke: var(--s-expired); fill: var(--s-expired); }
.c-p50 { color: var(--s-p50); stroke: var(--s-p50); fill: var(--s-p50); }
.c-p95 { color: var(--s-p95); stroke: var(--s-p95); fill: var(--s-p95); }
svg.chart .series.c-sent, svg.chart .series.c-delivered, svg.chart .series.c-bounced, svg.chart .series.c-complained,
svg.chart .series.c-failed, svg.chart .series.c-expired, svg.chart .series.c-p50, svg.chart .series.c-p95 { fill: none; }
footer { padding: 16px; color: var(--muted); font-size: 12px; text-align: center; }
time[data-local] { cursor: help; }
@media (max-width: 640px) {
  main { padding: 10px; }
  .hide-narrow { display: none; }
  th, td { padding: 6px; }
  dl.facts { grid-template-columns: 1fr; gap: 0; } dl.facts dd { margin-bottom: 6px; }
  /* The timeline stacks: when, + and the event on one line, what happened on the full width under it. */
  table.timeline thead { display: none; }
  table.timeline, table.timeline tbody, table.timeline tr { display: block; }
  table.timeline tr { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 8px; padding: 6px 8px; border-bottom: 1px solid var(--line); }
  table.timeline tr:last-child { border-bottom: 0; }
  table.timeline td { display: block; border: 0; padding: 0; }
  table.timeline td.since { color: var(--muted); }
  table.timeline td.what { flex: 1 0 100%; overflow-wrap: anywhere; }
  .table-wrap:has(table.timeline) { overflow-x: visible; }
}
`;

const JS = `
'use strict';
(function () {
  function age(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + 's ago';
    var m = Math.round(s / 60); if (m < 60) return m + 'm ago';
    var h = Math.round(m / 60); if (h < 48) return h + 'h ago';
    return Math.round(h / 24) + 'd ago';
  }
  // Local time always says its zone ("1 Dec 2026, 20:00:40 CET"); hovering shows the same instant in UTC.
  var LOCAL = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' };
  function local(t) { return new Date(t).toLocaleString(undefined, LOCAL); }
  function utc(t) { return new Date(t).toISOString().replace('T', ' ').replace('Z', ' UTC'); }
  function refresh() {
    var now = Date.now();
    document.querySelectorAll('time[data-age]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(t)) { el.textContent = age(now - t); el.title = local(t) + ' (' + utc(t) + ')'; }
    });
    document.querySelectorAll('time[data-local]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(t)) { el.title = utc(t); el.textContent = local(t); }
    });
  }
  document.addEventListener('change', function (e) {
    var el = e.target;
    if (el && el.matches && el.matches('form[data-autosubmit] select')) el.form.requestSubmit();
  });
  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  refresh();
  setInterval(refresh, 30000);
})();
`;

export interface Asset {
  path: string;
  body: string;
  contentType: string;
}

function asset(name: string, ext: string, body: string, contentType: string): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { path: `/dashboard/assets/${name}.${hash}.${ext}`, body, contentType };
}

export const STYLESHEET = asset('dashboard', 'css', CSS, 'text/css; charset=utf-8');
export const SCRIPT = asset('dashboard', 'js', JS, 'text/javascript; charset=utf-8');
export const ASSETS = [STYLESHEET, SCRIPT];
