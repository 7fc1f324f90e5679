/* supporthub admin — vanilla ES2020, no dependencies.
 * Every text that comes from users (articles, questions) is set with textContent. */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = String(text);
    return n;
  };
  const st = { me: null, articles: [], selected: null, groups: [] };

  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body instanceof FormData) opts.body = body; // the browser sets the multipart type
    else if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || 'Request failed (' + res.status + ')');
      err.status = res.status;
      if (res.status === 401) show('login');
      throw err;
    }
    return data || {};
  }

  function show(view) {
    $('login-view').hidden = view !== 'login';
    $('refused-view').hidden = view !== 'refused';
    $('main-view').hidden = view !== 'main';
  }

  // ---------- session ----------
  async function start() {
    try {
      const { user } = await api('GET', '/api/v1/auth/me');
      st.me = user;
    } catch (_) { show('login'); return; }
    if (st.me.role !== 'admin') { show('refused'); return; }
    $('me-name').textContent = st.me.name;
    show('main');
    await Promise.all([loadArticles(), loadUnanswered(), loadSettings()]);
    openLink();
  }

  // a link from the reports page: /admin#article=<id> opens its editor, /admin#unanswered the
  // log, /admin#unanswered=<id> only what customers said of that article's answers
  function openLink() {
    const link = new URLSearchParams(location.hash.slice(1));
    if (link.has('unanswered')) {
      const only = link.get('unanswered');
      st.unansweredFor = /^[1-9][0-9]*$/.test(only) ? only : null;
      selectTab('unanswered');
    }
    const id = link.get('article');
    const article = id && st.articles && st.articles.find((a) => String(a.id) === id);
    if (article) { selectTab('articles'); edit(article); }
  }
  window.addEventListener('hashchange', () => { if (st.me) openLink(); });

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      await api('POST', '/api/v1/auth/login', { email: $('login-email').value, password: $('login-password').value });
      await start();
    } catch (e) { $('login-error').textContent = e.message; }
  });
  async function logout() { try { await api('POST', '/api/v1/auth/logout'); } finally { show('login'); } }
  $('logout').addEventListener('click', logout);
  $('refused-logout').addEventListener('click', logout);

  // ---------- tabs ----------
  document.querySelectorAll('.tab').forEach((b) => b.addEventListener('click', () => {
    if (b.dataset.tab === 'unanswered') st.unansweredFor = null;  // the tab shows them all
    selectTab(b.dataset.tab);
  }));
  function selectTab(name) {
    document.querySelectorAll('.tab').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
    document.querySelectorAll('.tab-page').forEach((p) => { p.hidden = p.id !== 'tab-' + name; });
    if (name === 'unanswered') loadUnanswered();
    if (name === 'outreach') loadOutreach();
  }

  // ---------- templates and campaigns ----------
  async function loadOutreach() {
    try {
      const [{ templates }, { campaigns }] = await Promise.all([
        api('GET', '/api/v1/templates'), api('GET', '/api/v1/campaigns')]);
      const list = $('template-list');
      list.textContent = '';
      for (const t of templates) {
        const li = el('li');
        li.setAttribute('data-testid', 'template-item');
        li.append(el('strong', t.name), el('span', ' ' + t.content_sid + (t.variables.length ? ' · ' + t.variables.join(', ') : ''), 'muted'));
        const drop = el('button', 'Delete');
        drop.type = 'button';
        drop.addEventListener('click', async () => { await api('DELETE', '/api/v1/templates/' + t.id); loadOutreach(); });
        li.append(drop);
        list.append(li);
      }
      const rows = $('campaign-rows');
      rows.textContent = '';
      for (const c of campaigns) {
        const tr = el('tr');
        tr.setAttribute('data-testid', 'campaign-row');
        const p = c.progress;
        tr.append(el('td', c.name), el('td', c.status), el('td', p.sent), el('td', p.skipped), el('td', p.pending), el('td', ''));
        rows.append(tr);
        if (p.skipped) {
          api('GET', '/api/v1/campaigns/' + c.id).then((full) => {
            const why = [...new Set(full.recipients.filter((r) => r.error).map((r) => r.error))];
            tr.lastChild.textContent = why.slice(0, 3).join(' · ');
          }).catch(() => {});
        }
      }
      if (campaigns.some((c) => c.status === 'running')) setTimeout(() => { if (!$('tab-outreach').hidden) loadOutreach(); }, 2000);
    } catch (e) { $('template-error').textContent = e.message; }
  }
  $('template-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('template-error').textContent = '';
    const variables = $('template-vars').value.split(',').map((v) => v.trim()).filter(Boolean);
    try {
      await api('POST', '/api/v1/templates', { name: $('template-name').value.trim(), content_sid: $('template-sid').value.trim(), variables });
      $('template-name').value = $('template-sid').value = $('template-vars').value = '';
      loadOutreach();
    } catch (e) { $('template-error').textContent = e.message; }
  });

  // ---------- articles ----------
  async function loadArticles() {
    const q = $('article-search').value.trim();
    const data = await api('GET', '/api/v1/articles' + (q ? '?q=' + encodeURIComponent(q) : ''));
    st.articles = data.articles;
    renderList();
  }
  let searchTimer = null;
  $('article-search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadArticles, 200); });

  function renderList() {
    const list = $('article-list');
    list.textContent = '';
    for (const a of st.articles) {
      const li = el('li');
      li.dataset.testid = 'article-item';
      li.setAttribute('data-testid', 'article-item');
      li.dataset.articleId = a.id;
      if (st.selected && st.selected.id === a.id) li.classList.add('selected');
      li.append(el('span', a.title, 'title'), el('span', a.status, 'badge ' + a.status));
      if (a.unhelpful_count) li.append(el('span', a.unhelpful_count + ' unhelpful', 'badge bad'));
      li.addEventListener('click', () => edit(a));
      list.append(li);
    }
  }

  function edit(a) {
    st.selected = a;
    $('article-form').hidden = false;
    $('editor-heading').textContent = a ? 'Edit article #' + a.id : 'New article';
    $('article-title').value = a ? a.title : '';
    $('article-questions').value = a ? a.questions.join('\n') : '';
    $('article-answer').value = a ? a.answer : '';
    $('article-sms-answer').value = a ? (a.sms_answer || '') : '';
    $('article-tags').value = a ? a.tags.join(', ') : '';
    $('article-status').value = a ? a.status : 'published';
    $('article-delete').hidden = !a;
    $('article-publish').hidden = !a || a.status === 'published';
    $('editor-error').textContent = '';
    $('editor-status').textContent = '';
    renderList();
    loadHistory();
  }
  $('new-article').addEventListener('click', () => edit(null));

  function formBody() {
    return {
      title: $('article-title').value,
      questions: $('article-questions').value.split('\n').map((s) => s.trim()).filter(Boolean),
      answer: $('article-answer').value,
      sms_answer: $('article-sms-answer').value.trim() || null,
      tags: $('article-tags').value.split(',').map((s) => s.trim()).filter(Boolean),
      status: $('article-status').value,
    };
  }

  async function save(extra) {
    $('editor-error').textContent = '';
    const body = Object.assign(formBody(), extra || {});
    try {
      const saved = st.selected
        ? await api('PATCH', '/api/v1/articles/' + st.selected.id, body)
        : await api('POST', '/api/v1/articles', body);
      if (st.pendingDismiss) { await api('POST', '/api/v1/kb/unanswered/dismiss', { ids: st.pendingDismiss }); st.pendingDismiss = null; loadUnanswered(); }
      await loadArticles();
      edit(saved);
      whenLive($('editor-status'), 'Saved');
    } catch (e) { $('editor-error').textContent = e.message; }
  }
  $('article-form').addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
  $('article-publish').addEventListener('click', () => save({ status: 'published' }));
  $('article-delete').addEventListener('click', async () => {
    if (!st.selected || !confirm('Delete "' + st.selected.title + '"? It can be restored from its history.')) return;
    try {
      await api('DELETE', '/api/v1/articles/' + st.selected.id);
      st.selected = null;
      $('article-form').hidden = true;
      await loadArticles();
    } catch (e) { $('editor-error').textContent = e.message; }
  });

  // ---------- going live ----------
  // A knowledge write answers once committed; the bot matches it from the moment the
  // rebuild that includes it is in (milliseconds on a small knowledge base, seconds on a
  // large one). Say so, and say "live" only once /api/v1/kb/status has nothing pending.
  async function whenLive(node, done) {
    const waiting = done + ' — going live…';
    node.textContent = waiting;
    const until = Date.now() + 120000;
    while (Date.now() < until) {
      let status = null;
      try { status = await api('GET', '/api/v1/kb/status'); } catch (_) { status = null; }
      if (node.textContent !== waiting) return; // another write or article took the line
      if (status && !status.pending) { node.textContent = done + ' — live on the next message.'; return; }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (node.textContent === waiting) node.textContent = done + ' — still being indexed: the bot answers with the previous version meanwhile.';
  }

  // ---------- import ----------
  $('import-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('import-error').textContent = '';
    $('import-status').textContent = '';
    const files = $('import-file').files;
    if (!files.length) { $('import-error').textContent = 'Choose a file to import first.'; return; }
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    $('import-status').textContent = 'Importing…';
    try {
      const update = $('import-update').checked;
      const r = await api('POST', '/api/v1/kb/import' + (update ? '?mode=update' : ''), form);
      const counts = update ? ': ' + r.added + ' added, ' + r.updated + ' updated, ' + r.unchanged + ' unchanged' : '';
      $('import-file').value = '';
      await loadArticles();
      whenLive($('import-status'), 'Imported ' + r.imported + (r.imported === 1 ? ' article' : ' articles') + counts);
    } catch (e) {
      $('import-status').textContent = '';
      $('import-error').textContent = e.message;
    }
  });

  function authorText(a) {
    if (!a) return 'unknown';
    return a.email ? a.name + ' (' + a.email + ')' : a.name;
  }

  async function loadHistory() {
    const box = $('history-box');
    const list = $('history-list');
    list.textContent = '';
    box.hidden = !st.selected;
    if (!st.selected) return;
    const id = st.selected.id;
    const { revisions } = await api('GET', '/api/v1/articles/' + id + '/history');
    revisions.forEach((r, i) => {
      const li = el('li');
      li.setAttribute('data-testid', 'history-item');
      const author = el('span', ' by ' + authorText(r.author), 'author');
      author.setAttribute('data-testid', 'history-author');
      li.append(el('strong', r.action), author, el('span', ' · ' + new Date(r.created_at).toLocaleString() + ' — '),
        el('span', r.article.title + ' (' + r.article.status + ')'));
      const answer = el('div', r.article.answer, 'examples');
      li.append(answer);
      if (i > 0) {
        const b = el('button', 'Restore this version');
        b.type = 'button';
        b.setAttribute('data-testid', 'history-restore');
        b.addEventListener('click', async () => {
          try {
            const restored = await api('POST', '/api/v1/articles/' + id + '/restore', { revision_id: r.id });
            await loadArticles();
            edit(restored);
            whenLive($('editor-status'), 'Restored');
          } catch (e) { $('editor-error').textContent = e.message; }
        });
        li.append(b);
      }
      list.append(li);
    });
  }

  // ---------- try it ----------
  $('try-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = $('try-input').value.trim();
    if (!q) return;
    const out = $('try-matches');
    out.textContent = '';
    try {
      const r = await api('GET', '/api/v1/kb/match?q=' + encodeURIComponent(q));
      $('try-outcome').textContent = r.outcome;
      for (const m of r.matches) {
        const li = el('li');
        li.setAttribute('data-testid', 'try-match');
        li.append(el('span', m.title), el('span', m.score.toFixed(1), 'badge'));
        out.append(li);
      }
    } catch (e) { $('try-outcome').textContent = e.message; }
  });

  // ---------- unanswered ----------
  async function loadUnanswered() {
    const only = st.unansweredFor || null;
    const { groups } = await api('GET', '/api/v1/kb/unanswered' + (only ? '?article_id=' + only : ''));
    st.groups = groups;
    if (!only) $('unanswered-count').textContent = groups.length ? String(groups.length) : '';
    const filter = $('unanswered-filter');
    filter.hidden = !only;
    if (only) {
      const article = (st.articles || []).find((a) => String(a.id) === only);
      $('unanswered-article').textContent = article ? article.title : 'article ' + only;
    }
    const list = $('unanswered-list');
    list.textContent = '';
    if (!groups.length) list.append(el('li', only ? 'Nothing here: no customer said this article\'s answer did not help.' : 'Nothing here: the bot had an answer for everything.', 'muted'));
    for (const g of groups) {
      const li = el('li');
      li.setAttribute('data-testid', 'unanswered-group');
      const head = el('div');
      head.append(el('strong', g.text), el('span', '×' + g.count, 'badge'));
      for (const [kind, n] of Object.entries(g.kinds)) head.append(el('span', kind + ' ' + n, 'badge' + (kind === 'unhelpful' ? ' bad' : '')));
      li.append(head);
      if (g.examples.length > 1) li.append(el('div', 'Also asked as: ' + g.examples.slice(1).join(' · '), 'examples'));
      const row = el('div', null, 'row');
      const create = el('button', 'Create article from this');
      create.type = 'button';
      create.setAttribute('data-testid', 'create-from');
      create.addEventListener('click', () => {
        selectTab('articles');
        edit(null);
        $('article-title').value = g.text;
        $('article-questions').value = g.examples.join('\n');
        st.pendingDismiss = g.ids;
        $('article-answer').focus();
      });
      const pick = el('select');
      pick.setAttribute('data-testid', 'phrasing-article');
      pick.append(el('option', 'Add as a phrasing of…'));
      for (const a of st.articles) { const o = el('option', a.title); o.value = a.id; pick.append(o); }
      const add = el('button', 'Add');
      add.type = 'button';
      add.setAttribute('data-testid', 'add-phrasing');
      add.addEventListener('click', async () => {
        const articleId = parseInt(pick.value, 10);
        if (!articleId) return;
        await api('POST', '/api/v1/kb/unanswered/phrasing', { ids: g.ids, article_id: articleId, text: g.text });
        await Promise.all([loadUnanswered(), loadArticles()]);
      });
      const dismiss = el('button', 'Dismiss');
      dismiss.type = 'button';
      dismiss.addEventListener('click', async () => { await api('POST', '/api/v1/kb/unanswered/dismiss', { ids: g.ids }); loadUnanswered(); });
      pick.style.width = 'auto';
      row.append(create, pick, add, dismiss);
      li.append(row);
      list.append(li);
    }
  }

  // ---------- settings ----------
  async function loadSettings() {
    const s = await api('GET', '/api/v1/kb/settings');
    $('synonyms').value = Object.entries(s.synonyms).map(([w, vs]) => w + ': ' + vs.join(', ')).join('\n');
    for (const k of ['answer', 'suggest', 'margin']) $('th-' + k).value = s.thresholds[k];
    $('th-defaults').textContent = 'Defaults: answer ' + s.default_thresholds.answer + ', suggest ' +
      s.default_thresholds.suggest + ', margin ' + s.default_thresholds.margin;
    st.defaults = s.default_thresholds;
  }
  $('th-reset').addEventListener('click', () => { for (const k of ['answer', 'suggest', 'margin']) $('th-' + k).value = st.defaults[k]; });
  $('settings-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('settings-error').textContent = '';
    const synonyms = {};
    for (const line of $('synonyms').value.split('\n')) {
      if (!line.trim()) continue;
      const at = line.indexOf(':');
      if (at < 1) { $('settings-error').textContent = 'Each line needs "word: variant, variant": ' + line; return; }
      synonyms[line.slice(0, at).trim()] = line.slice(at + 1).split(',').map((s) => s.trim()).filter(Boolean);
    }
    const thresholds = {};
    for (const k of ['answer', 'suggest', 'margin']) thresholds[k] = parseFloat($('th-' + k).value);
    try {
      await api('PUT', '/api/v1/kb/settings', { synonyms, thresholds });
      await loadSettings();
      $('settings-status').textContent = 'Saved — live on the next message.';
    } catch (e) { $('settings-error').textContent = e.message; }
  });

  start();
})();
