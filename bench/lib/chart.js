'use strict';
/** An SVG line chart: p99 and p50 latency against offered rate, ours and the peer's. */

function latencyChart(r) {
  const W = 640, H = 360, L = 60, R = 20, T = 40, B = 50;
  const series = [];
  for (const [sys, color] of [['ours', '#1f77b4'], ['peer', '#d62728']]) {
    const pts = (r[sys].rate ?? []).map((p) => ({ x: p.rate, p50: p.median.latency.p50, p99: p.median.latency.p99 }));
    series.push({ name: sys === 'ours' ? 'streamchat' : 'Socket.IO + redis-streams-adapter (stores nothing)', color, pts });
  }
  const xs = series.flatMap((s) => s.pts.map((p) => p.x));
  const ys = series.flatMap((s) => s.pts.flatMap((p) => [p.p50, p.p99])).filter((v) => v !== null);
  const xMax = Math.max(...xs, 1) * 1.05;
  const yMax = Math.max(...ys, 1) * 1.1;
  const px = (x) => L + (x / xMax) * (W - L - R);
  const py = (y) => H - B - (y / yMax) * (H - T - B);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Send-to-delivery latency vs offered rate (1:1 across 2 nodes)</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">offered messages/s</text>`,
    `<text x="15" y="${H / 2}" transform="rotate(-90 15 ${H / 2})" text-anchor="middle">latency (ms)</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax / 4) * i;
    out.push(`<line x1="${L - 4}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#eee"/><text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(y < 10 ? 1 : 0)}</text>`);
  }
  for (const x of [...new Set(xs)]) out.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  series.forEach((s, si) => {
    for (const [key, dash] of [['p99', ''], ['p50', '4 3']]) {
      const pts = s.pts.filter((p) => p[key] !== null);
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${pts.map((p) => `${px(p.x)},${py(p[key])}`).join(' ')}"/>`);
      for (const p of pts) out.push(`<circle cx="${px(p.x)}" cy="${py(p[key])}" r="3" fill="${s.color}"/>`);
    }
    out.push(`<text x="${L + 10}" y="${T + 14 + si * 16}" fill="${s.color}">${s.name}: p99 solid, p50 dashed</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

module.exports = { latencyChart };
