// The stylesheet of report.html (render-html.ts inlines it next to uPlot's own): a light, compact
// page of figures, tables and a two-column grid of charts that prints as it shows.
export const REPORT_CSS = `
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2430; background: #f6f7f9; margin: 0 auto; padding: 20px 28px 40px; max-width: 1500px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h1 code { font-size: 20px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d8dce3; }
.sub, .hint { color: #5b6576; margin: 0 0 12px; font-size: 13px; }
.status { font-size: 13px; padding: 2px 10px; border-radius: 10px; vertical-align: middle; background: #8a94a6; color: #fff; }
.status-completed { background: #2e7d32; }
.status-interrupted { background: #ef8f00; }
.status-failed { background: #c62828; }
.error, .notes { border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.error { background: #fdecea; border: 1px solid #f5c2c0; }
.notes { background: #fff8e1; border: 1px solid #f3dc94; }
.notes ul { margin: 4px 0 0; padding-left: 20px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 12px 0 0; }
.figures div, .config div { background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 6px 10px; }
dt { color: #5b6576; font-size: 12px; }
dd { margin: 0; font-size: 17px; font-weight: 600; }
.config { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 6px; }
.config dd { font-size: 13px; font-weight: 500; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; background: #fff; border: 1px solid #e1e4ea; font-size: 13px; margin-bottom: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eceef2; text-align: left; vertical-align: top; }
th { background: #eef0f4; font-weight: 600; }
table.num td:not(:nth-child(2)):not(:nth-child(4)) { font-variant-numeric: tabular-nums; }
.breakdown td { text-align: right; }
.breakdown td:first-child { text-align: left; }
.bar { display: flex; width: 260px; height: 14px; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 8px 10px 4px; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.chart { width: 100%; min-height: 40px; }
.legend span { margin-right: 14px; white-space: nowrap; font-size: 13px; }
.tag { display: inline-block; width: 16px; height: 16px; line-height: 16px; text-align: center; color: #fff; font: bold 11px sans-serif; font-style: normal; border-radius: 2px; margin-right: 5px; vertical-align: -3px; }
.empty { color: #5b6576; font-style: italic; }
.files { columns: 3; padding-left: 18px; font-family: ui-monospace, monospace; font-size: 13px; }
.files .miss { color: #c62828; }
.u-legend { font-size: 12px; }
`;
