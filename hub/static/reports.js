/* supporthub reports — vanilla ES2020 and uPlot (served by the hub); every text via textContent. */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const n = document.createElement(tag); if (text != null) n.textContent = String(text); if (cls) n.className = cls; return n; };
  const charts = {};

  async function api(path) {
    const res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    let out = null;
    try { out = await res.json(); } catch (_) { out = null; }
    if (res.status === 401) throw new Error('Log in as an admin on /admin first.');
    if (!res.ok) throw new Error((out && out.error && out.error.message) || 'Request failed (' + res.status + ')');
    return out;
  }

  const pct = (v) => (v == null ? '—' : (100 * v).toFixed(1) + '%');
  const num = (v, digits) => (v == null ? '—' : Number(v).toFixed(digits == null ? 0 : digits));
  function dur(s) {
    if (s == null) return '—';
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }

  function query() {
    const p = new URLSearchParams();
    if ($('from').value) p.set('from', $('from').value);
    if ($('to').value) p.set('to', $('to').value);
    if ($('channel').value) p.set('channel', $('channel').value);
    return p;
  }

  function card(label, value, testid, extra) {
    const c = el('div', null, 'card');
    c.setAttribute('data-testid', testid);
    const v = el('div', value, 'value');
    v.setAttribute('data-testid', testid + '-value');
    c.append(v, el('div', label, 'label'));
    if (extra) c.append(el('div', extra, 'label'));
    return c;
  }

  function renderSummary(s) {
    const fr = s.first_response, rs = s.resolution, cs = s.csat;
    const business = (d) => (d.median_business_s == null ? null : 'business hours: ' + dur(d.median_business_s));
    $('cards').replaceChildren(
      card('conversations', s.conversations, 'figure-conversations'),
      card('cycles', s.cycles, 'figure-cycles', s.reopened + ' reopened'),
      card('handoff rate', pct(s.handoff_rate), 'figure-handoff-rate', s.handoffs + ' handed off'),
      card('containment (bot alone)', pct(s.containment_rate), 'figure-containment-rate', s.contained + ' of ' + s.bot_handled + ' bot-handled'),
      card('first response, median', dur(fr.median_s), 'figure-first-response', 'p90 ' + dur(fr.p90_s) + (business(fr) ? '; ' + business(fr) : '')),
      card('resolution, median', dur(rs.median_s), 'figure-resolution', 'p90 ' + dur(rs.p90_s) + (business(rs) ? '; ' + business(rs) : '')),
      card('CSAT average', num(cs.average, 2), 'figure-csat', cs.answered + ' of ' + cs.sent + ' answered; ' + pct(cs.satisfied_rate) + ' satisfied'),
    );
    const channels = Object.entries(s.by_channel);
    $('channels').replaceChildren(...channels.map(([name, f]) => {
      const tr = el('tr');
      tr.setAttribute('data-testid', 'channel-row');
      tr.append(el('td', name), el('td', f.cycles), el('td', pct(f.handoff_rate)), el('td', pct(f.containment_rate)),
        el('td', dur(f.first_response.median_s)), el('td', num(f.csat.average, 2)));
      return tr;
    }));
    const select = $('channel');
    for (const [name] of channels) {
      if (![...select.options].some((o) => o.value === name)) { const o = el('option', name); o.value = name; select.append(o); }
    }
    $('agents').replaceChildren(...s.by_agent.map((a) => {
      const tr = el('tr');
      tr.setAttribute('data-testid', 'agent-row');
      tr.append(el('td', a.name || ('#' + a.agent_id)), el('td', a.resolved), el('td', dur(a.first_response.median_s)),
        el('td', dur(a.resolution.median_s)), el('td', num(a.csat.average, 2) + ' (' + a.csat.answered + ')'));
      return tr;
    }));
  }

  function renderComments(rows) {
    if (!rows.length) {
      const tr = el('tr');
      const td = el('td', 'No comments in this window.', 'muted');
      td.colSpan = 6;
      tr.append(td);
      $('comments').replaceChildren(tr);
      return;
    }
    $('comments').replaceChildren(...rows.map((c) => {
      const tr = el('tr');
      tr.setAttribute('data-testid', 'comment-row');
      const text = el('td', c.comment);
      text.setAttribute('data-testid', 'comment-text');
      tr.append(el('td', c.resolved ? new Date(c.resolved).toLocaleString() : '—'), el('td', c.score == null ? '—' : c.score + ' / 5'),
        text, el('td', c.channel), el('td', c.agent || (c.resolved_by == null ? '—' : '#' + c.resolved_by)), el('td', '#' + c.conversation_id));
      return tr;
    }));
  }

  function renderArticles(rows) {
    $('articles').replaceChildren(...rows.map((a) => {
      const tr = el('tr');
      tr.setAttribute('data-testid', 'article-row');
      tr.dataset.articleId = a.article_id;
      const links = el('td');
      const edit = el('a', 'Edit');
      edit.href = '/admin#article=' + encodeURIComponent(a.article_id);
      edit.setAttribute('data-testid', 'article-edit');
      const unanswered = el('a', 'Unanswered questions');
      unanswered.href = '/admin#unanswered=' + encodeURIComponent(a.article_id);  // its own only
      unanswered.setAttribute('data-testid', 'article-unanswered');
      links.append(edit, document.createTextNode(' · '), unanswered);
      tr.append(el('td', a.title || ('#' + a.article_id)), el('td', a.answers), el('td', a.unhelpful), el('td', a.handoffs),
        el('td', pct(a.deflection_rate)), links);
      return tr;
    }));
  }

  async function renderChart(id, metric) {
    const p = query();
    p.set('metric', metric);
    p.set('interval', $('interval').value);
    const data = await api('/api/v1/reports/timeseries?' + p);
    const xs = data.points.map((pt) => Date.parse(pt.start) / 1000);
    const ys = data.points.map((pt) => pt.value);
    const box = $(id);
    if (charts[id]) charts[id].destroy();
    box.dataset.points = String(ys.filter((v) => v != null).length);
    charts[id] = new uPlot({
      width: Math.max(300, box.clientWidth || 500), height: 200,
      scales: { x: { time: true } },
      series: [{}, { label: metric, stroke: '#2f6fed', fill: '#2f6fed22', width: 2, spanGaps: false,
        points: { show: true, size: 6 } }],
    }, [xs, ys], box);
  }

  async function load() {
    $('error').textContent = '';
    try {
      const p = query();
      $('export').href = '/api/v1/reports/export.csv?' + p;
      const [summary, articles] = await Promise.all([
        api('/api/v1/reports/summary?' + p), api('/api/v1/reports/articles?' + p)]);
      if (!$('from').value) $('from').value = summary.from;
      if (!$('to').value) $('to').value = summary.to;
      renderSummary(summary);
      renderComments(summary.csat_comments);
      renderArticles(articles.articles);
      await Promise.all([
        renderChart('chart-cycles', 'cycles'),
        renderChart('chart-containment', 'containment_rate'),
        renderChart('chart-first-response', 'first_response_median_s'),
        renderChart('chart-csat', 'csat_average'),
      ]);
      document.body.dataset.loaded = 'true';
    } catch (e) { $('error').textContent = e.message; }
  }

  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  load();
})();
