/**
 * The eta template of report.html (kept as a module so the build ships it
 * with the code). `<%=` escapes; `<%~` (raw) only ever prints chart SVG.
 */
export const REPORT_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Chargeback <%= it.month %> <%= it.owner ? 'of ' + it.by + ' ' + it.owner.name : 'by ' + it.by %> (<%= it.status %>)</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; color: #1d2530; margin: 0 auto; max-width: 1040px; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #d5dbe3; padding-bottom: 4px; }
  h3 { font-size: 15px; margin: 20px 0 6px; }
  .badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; vertical-align: middle; margin-left: 8px; }
  .badge.estimated { background: #fff1d6; color: #8a5a00; border: 1px solid #e8b44c; } .badge.final { background: #dff3e4; color: #1d6b35; border: 1px solid #74c08a; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6eaf0; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } .muted { color: #5d6b7b; font-size: 12px; }
  .ok { color: #1d6b35; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; } .chart { margin: 8px 0; } .chart svg { max-width: 100%; height: auto; }
  .low { color: #b3261e; }
</style>
</head>
<body>
<header>
<h1>Chargeback <%= it.month %> <%= it.owner ? 'of ' + it.by + ' ' + it.owner.name : 'by ' + it.by %> <span class="badge <%= it.status %>"><%= it.status %></span></h1>
<p class="muted">Generated <%= it.generatedAt %> by inferledger. Every amount is exact in chargeback.csv (12 decimals); this page rounds to the cent.</p>
<% if (it.owner) { %><p class="owner-pack">The lines of <%= it.by %> <%= it.owner.name %> only, each exactly as in the month's full pack (<%= it.by %>, <%= it.idle %> idle, <%= it.basis %> basis); no other <%= it.by %> is in this pack.</p><% } %>
<% if (it.statusReasons.length > 0) { %><p><strong>Estimated:</strong> <%= it.statusReasons.join('; ') %>. A final pack is written beside this one once the month is final.</p><% } %>
</header>

<section id="method">
<h2>Method <span class="badge <%= it.status %>"><%= it.status %></span></h2>
<ul>
  <li>Idle policy: <%= it.policyText %>.</li>
<% if (it.owner) { %>  <li>For this <%= it.by %>: <%= it.owner.idleStatement %>.</li>
<% } %>
  <li>Cost basis: <%= it.basis === 'effective' ? 'EffectiveCost (amortized: commitments and discounts applied)' : 'BilledCost (as invoiced)' %>.</li>
  <li>Each pool-hour's bill is split over its requests by the pool's weight basis (listed per pool below); untagged cost is the (unallocated) line.</li>
<% for (const f of it.idleFallbacks) { %>  <li>Pool <%= f.pool_id %> (<%= f.currency %>): idle on the (idle) line, <%= f.reason %>.</li>
<% } %></ul>
<p class="muted">Billing versions: <% for (const v of it.billingVersions) { %><%= v.billing_version %> (<%= v.pool_hours %> pool-hours<%= v.estimated ? ', estimated' : '' %>) <% } %></p>
<% if (it.rateCards.length > 0) { %><h3>Rate cards</h3>
<p class="muted">Pools no cloud bills by the hour are priced by their rate card; each version below priced the hours it holds this month that no cloud bill covers.</p>
<ul class="rate-cards">
<% for (const r of it.rateCards) { %>  <li>Pool <%= r.pool %>: <%= r.card %>, set <%= r.changedAt %> by <%= r.changedBy %><%= r.reason === '' ? '' : ' — ' + r.reason %>: <%= r.hours %> hours, <span title="<%= r.costExact %>"><%= r.cost %></span> <%= r.currency %>.</li>
<% } %></ul>
<% } %></section>

<% for (const c of it.currencies) { %>
<section class="currency" data-currency="<%= c.currency %>">
<% if (c.ownerShare) { %><h2>Share of the bill, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<table class="owner-share">
<tr><th><%= it.owner.name %></th><th class="n">of billed</th><th class="n">share</th><th class="n">idle charged</th><th class="n">idle not charged: the (idle) line</th></tr>
<tr><td title="<%= c.ownerShare.costExact %>"><%= c.ownerShare.cost %></td><td class="n" title="<%= c.ownerShare.billedExact %>"><%= c.ownerShare.billed %></td><td class="n" title="<%= c.ownerShare.shareExact %>"><%= c.ownerShare.share %></td>
<td class="n" title="<%= c.ownerShare.idleExact %>"><%= c.ownerShare.idle %></td><td class="n" title="<%= c.ownerShare.idleNotChargedExact %>"><%= c.ownerShare.idleNotCharged %></td></tr>
</table>
<p class="muted">Exact: <%= c.ownerShare.costExact %> of <%= c.ownerShare.billedExact %> <%= c.currency %> (share <%= c.ownerShare.shareExact %>). The month's full pack ties out as below, all owners together.</p>
<% } %>
<h2>Reconciliation, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<table class="reconciliation">
<tr><th>billed</th><th class="n">=</th><th>allocated to owners</th><th class="n">+</th><th>idle</th><th class="n">+</th><th>unallocated</th><th></th></tr>
<tr><td title="<%= c.reconciliation.billedExact %>"><%= c.reconciliation.billed %></td><td></td><td title="<%= c.reconciliation.allocatedExact %>"><%= c.reconciliation.allocated %></td><td></td>
<td title="<%= c.reconciliation.idleExact %>"><%= c.reconciliation.idle %></td><td></td><td title="<%= c.reconciliation.unallocatedExact %>"><%= c.reconciliation.unallocated %></td>
<td class="<%= c.reconciliation.tiesOut ? 'ok' : 'bad' %>"><%= c.reconciliation.tiesOut ? 'ties out exactly' : 'DOES NOT TIE OUT' %></td></tr>
</table>
<p class="muted">Exact: <%= c.reconciliation.billedExact %> = <%= c.reconciliation.allocatedExact %> + <%= c.reconciliation.idleExact %> + <%= c.reconciliation.unallocatedExact %>.
GPU time used <%= c.reconciliation.used %>, idle capacity <%= c.reconciliation.idleCapacity %>, corrections <%= c.reconciliation.correction %>, still estimated <%= c.reconciliation.estimated %> <%= c.currency %>.</p>

<h2>Cost <%= it.owner ? 'of' : 'per' %> <%= it.by %>, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<figure class="chart" data-chart="owners" data-series="<%= c.ownerChart.series %>"><%~ c.ownerChart.svg %></figure>
<table><tr><th><%= it.by %></th><th class="n">requests</th><th class="n">used</th><th class="n">idle</th><th class="n">cost</th><th class="n">CPP</th></tr>
<% for (const r of c.owners) { %><tr><td><%= r.name %></td><td class="n"><%= r.requests %></td><td class="n"><%= r.used %></td><td class="n"><%= r.idle %></td><td class="n" title="<%= r.exact %>"><%= r.cost %></td><td class="n"><%= r.cpp %></td></tr>
<% } %></table>
<% if (c.ownerCount > c.owners.length) { %><p class="muted">The <%= c.owners.length %> largest of <%= c.ownerCount %>; all are in chargeback.csv.</p><% } %>

<h2>Top models and features, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<h3>Models</h3>
<figure class="chart" data-chart="models" data-series="<%= c.modelChart.series %>"><%~ c.modelChart.svg %></figure>
<table><tr><th>model</th><th class="n">requests</th><th class="n">used</th><th class="n">idle</th><th class="n">cost</th><th class="n">CPP</th></tr>
<% for (const r of c.models) { %><tr><td><%= r.name %></td><td class="n"><%= r.requests %></td><td class="n"><%= r.used %></td><td class="n"><%= r.idle %></td><td class="n" title="<%= r.exact %>"><%= r.cost %></td><td class="n"><%= r.cpp %></td></tr>
<% } %></table>
<h3>Features</h3>
<figure class="chart" data-chart="features" data-series="<%= c.featureChart.series %>"><%~ c.featureChart.svg %></figure>
<table><tr><th>feature</th><th class="n">requests</th><th class="n">used</th><th class="n">idle</th><th class="n">cost</th><th class="n">CPP</th></tr>
<% for (const r of c.features) { %><tr><td><%= r.name %></td><td class="n"><%= r.requests %></td><td class="n"><%= r.used %></td><td class="n"><%= r.idle %></td><td class="n" title="<%= r.exact %>"><%= r.cost %></td><td class="n"><%= r.cpp %></td></tr>
<% } %></table>

<h2>Daily cost per prediction of the biggest models, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<% if (c.cppChart) { %><figure class="chart" data-chart="daily-cpp" data-series="<%= c.cppChart.series %>"><%~ c.cppChart.svg %></figure>
<p class="muted">Fully loaded CPP per UTC day (cpp_daily: idle of the hours with traffic included).</p><% } else { %><p>No traffic.</p><% } %>

<h2>GPU pools: utilisation and idle cost, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<figure class="chart" data-chart="pools" data-series="<%= c.poolChart.series %>"><%~ c.poolChart.svg %></figure>
<table><tr><th>pool</th><th>weight basis</th><th class="n">billed</th><th class="n">idle</th><th class="n">utilisation</th></tr>
<% for (const p of c.pools) { %><tr><td><%= p.pool %></td><td><%= p.weights %></td><td class="n"><%= p.billed %></td><td class="n"><%= p.idle %></td><td class="n<%= p.low ? ' low' : '' %>"><%= p.utilization %></td></tr>
<% } %></table>

<h2>Savings, <%= c.currency %> <span class="badge <%= it.status %>"><%= c.badge %></span></h2>
<h3>Pools with low utilisation (under 50 %)</h3>
<% const low = c.pools.filter((p) => p.low); %>
<% if (c.pools.length === 0) { %><p>No GPU pool billed in <%= c.currency %> this month.</p>
<% } else if (c.savings.known.length === 0) { %><p class="unknown-utilization"><strong>Could not tell:</strong> utilisation is unknown for every pool (<%= c.savings.unknown.join(', ') %>). <%= c.savings.fix %></p>
<% } else { %>
<% if (low.length === 0 && c.savings.unknown.length === 0) { %><p>None this month.</p>
<% } else if (low.length === 0) { %><p>None of the pools whose utilisation is known (<%= c.savings.known.join(', ') %>).</p><% } else { %>
<table><tr><th>pool</th><th class="n">utilisation</th><th class="n">idle cost this month</th><th class="n">GPUs paid (average)</th><th class="n">GPUs the busiest hour needed</th><th class="n">saving if right-sized to the busiest hour</th></tr>
<% for (const p of low) { %><tr><td><%= p.pool %></td><td class="n"><%= p.utilization %></td><td class="n"><%= p.idle %></td><td class="n"><%= p.paidGpus %></td><td class="n"><%= p.peakGpus %></td><td class="n"><%= p.saving %></td></tr>
<% } %></table>
<p class="muted">Right-sizing: the pool runs, every billed hour, the whole GPUs its busiest hour used; the saving is the bill's share of the GPU-hours that frees.</p>
<% } %>
<% if (c.savings.unknown.length > 0) { %><p class="unknown-utilization"><strong>Utilisation unknown</strong> for <%= c.savings.unknown.join(', ') %>, which may be low too. <%= c.savings.fix %></p><% } %>
<% } %>
<h3>Model versions: CPP and GPU time per request</h3>
<% if (c.versions.length === 0) { %><p>No model ran two versions this month.</p><% } else { %>
<table><tr><th>model</th><th>version</th><th>against</th><th class="n">requests</th><th class="n">CPP</th><th class="n">CPP of reference</th><th class="n">GPU-ms / request</th><th class="n">reference</th><th class="n">effect this month</th></tr>
<% for (const v of c.versions) { %><tr><td><%= v.model %></td><td><%= v.version %></td><td><%= v.reference %></td><td class="n"><%= v.requests %></td><td class="n"><%= v.cpp %></td><td class="n"><%= v.referenceCpp %></td><td class="n"><%= v.gpuMs %></td><td class="n"><%= v.referenceGpuMs %></td>
<td class="n <%= v.regression ? 'bad' : 'ok' %>"><%= v.regression ? 'cost ' : 'saved ' %><%= v.difference %></td></tr>
<% } %></table>
<p class="muted">Against the model's most used version: (CPP - reference CPP) x the version's requests.</p>
<% } %>
</section>
<% } %>
</body>
</html>
`;
