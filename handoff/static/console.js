/* supporthub agent console — vanilla ES2020, no dependencies.
 * Customer/agent text is always rendered with textContent, never as HTML. */
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = String(text);
    return n;
  };

  const ui = {
    loginView: $('login-view'), loginForm: $('login-form'), loginError: $('login-error'),
    mainView: $('main-view'), meName: $('me-name'), logout: $('logout'), conn: $('conn-status'),
    lists: { queue: $('queue-list'), mine: $('mine-list'), bot: $('bot-list') },
    counts: { queue: $('queue-count'), mine: $('mine-count'), bot: $('bot-count') },
    empty: $('empty-thread'), threadView: $('thread-view'), thread: $('thread'),
    contact: $('thread-contact'), state: $('thread-state'), channel: $('thread-channel'), agent: $('thread-agent'),
    claim: $('btn-claim'), release: $('btn-release'), resolve: $('btn-resolve'), actionError: $('action-error'),
    replyForm: $('reply-form'), replyInput: $('reply-input'), replySend: $('reply-send'),
    status: $('status-select'), search: $('search-input'), fState: $('filter-state'),
    fChannel: $('filter-channel'), fAgent: $('filter-agent'), results: $('results-list'),
    resultsSection: $('results-section'), resultsCount: $('results-count'),
    typing: $('typing-indicator'), replyChannel: $('reply-channel'), replyPrivate: $('reply-private'),
    canned: $('canned-select'), panel: $('contact-panel'), contactId: $('contact-id'),
    contactForm: $('contact-form'), cName: $('contact-name'), cEmail: $('contact-email'),
    cPhone: $('contact-phone'), cAttrs: $('contact-attributes'), cSaved: $('contact-saved'),
    cChannels: $('contact-channels'), cConvs: $('contact-conversations'),
    mergeForm: $('merge-form'), mergeOther: $('merge-other'), mergeUndo: $('merge-undo'),
    cError: $('contact-error'), cConsents: $('contact-consents'),
    replyWindow: $('reply-window'), templateForm: $('template-form'),
    templateSelect: $('template-select'), templateVars: $('template-variables'),
  };

  const st = {
    me: null,
    convs: new Map(),      // id -> conversation
    unread: new Map(),     // id -> count
    readMarks: new Map(),  // id -> newest message id reported read to the server
    selectedId: null,
    selected: null,
    threadSeen: new Set(),
    ws: null, wsGen: 0, retryDelay: 1000, retryTimer: null,
    busy: false,
    fetching: new Set(),
    contact: null, lastMerge: null, results: null, typingTimer: null, typingSent: 0,
    liveSeq: 0, liveAt: new Map(),  // id -> number of its latest live change (loadLists)
    loading: 0,            // loadLists calls in flight
  };

  class HttpError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body, { auth401 = true } = {}) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      if (res.status === 401 && auth401 && st.me) showLogin('Your session has ended. Please sign in again.');
      throw new HttpError(res.status, err.code || 'http_' + res.status, err.message || 'Request failed (' + res.status + ')');
    }
    return data || {};
  }

  // ---------- helpers ----------
  const contactName = (c) => (c && c.contact_name) || 'Visitor #' + (c ? c.contact_id : '?');
  const mineConv = (c) => !!(st.me && c && c.state === 'assigned' && c.assigned_agent && c.assigned_agent.id === st.me.id);
  function category(c) {
    if (c.state === 'queued') return 'queue';
    if (c.state === 'bot') return 'bot';
    if (mineConv(c)) return 'mine';
    return null;
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return '';
    const now = new Date();
    const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
  }
  const ts = (c) => Date.parse(c.updated_at || c.created_at || 0) || 0;

  // ---------- views ----------
  function showLogin(message) {
    closeSocket();
    st.me = null;
    st.convs.clear();
    st.unread.clear();
    st.readMarks.clear();
    st.selectedId = null;
    st.selected = null;
    ui.mainView.hidden = true;
    ui.loginView.hidden = false;
    ui.loginError.textContent = message || '';
    const email = ui.loginForm.elements.email;
    if (email) email.focus();
  }

  function enterApp(user) {
    st.me = user;
    ui.loginView.hidden = true;
    ui.mainView.hidden = false;
    ui.loginError.textContent = '';
    ui.meName.textContent = user.name || user.email || '';
    ui.threadView.hidden = true;
    ui.empty.hidden = false;
    renderLists();
    loadLists();
    connect();
    setStatus('online');
  }

  // ---------- agent status, filters, contact panel, canned (issue 7) ----------
  async function setStatus(status) {
    try {
      const data = await api('POST', '/api/v1/agent/status', { status });
      ui.status.value = data.status;
    } catch (_) { /* shown as it was */ }
  }

  function filterQuery() {
    const p = new URLSearchParams();
    if (ui.search.value.trim()) p.set('q', ui.search.value.trim());
    if (ui.fState.value) p.set('state', ui.fState.value);
    if (ui.fChannel.value) p.set('channel', ui.fChannel.value);
    if (ui.fAgent.value) p.set('agent', ui.fAgent.value === 'me' ? String(st.me.id) : ui.fAgent.value);
    return p.toString();
  }

  let filterTimer = null;
  function onFilter() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(runFilter, 200);
  }

  async function runFilter() {
    const q = filterQuery();
    if (!q) { st.results = null; ui.resultsSection.hidden = true; return; }
    try {
      const data = await api('GET', '/api/v1/conversations?' + q);
      st.results = data.conversations || [];
      renderResults();
    } catch (e) { if (e.status !== 401) showActionError(e.message); }
  }

  function renderResults() {
    if (!st.results) return;
    ui.resultsSection.hidden = false;
    const frag = document.createDocumentFragment();
    st.results.forEach((c) => frag.appendChild(renderItem(st.convs.get(c.id) || c)));
    if (!st.results.length) frag.appendChild(el('li', 'conv-empty', 'No matches'));
    ui.results.replaceChildren(frag);
    ui.resultsCount.textContent = String(st.results.length);
  }

  function attrsText(attrs) {
    return Object.entries(attrs || {}).map(([k, v]) => k + '=' + (v == null ? '' : v)).join('\n');
  }

  function parseAttrs(text) {
    const out = {};
    text.split(/\r?\n/).forEach((line) => {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    });
    return out;
  }

  async function loadContact(contactId) {
    if (contactId == null) return;
    try {
      renderContact(await api('GET', '/api/v1/contacts/' + contactId));
    } catch (e) { if (e.status !== 401) ui.cError.textContent = e.message; }
  }

  function renderContact(c) {
    st.contact = c;
    ui.panel.hidden = false;
    ui.cError.textContent = '';
    ui.contactId.textContent = '#' + c.id;
    ui.cName.value = c.name || '';
    ui.cEmail.value = c.email || '';
    ui.cPhone.value = c.phone || '';
    ui.cAttrs.value = attrsText(c.attributes);
    ui.cChannels.replaceChildren(...(c.identities || []).map((i) => {
      const li = el('li');
      li.setAttribute('data-testid', 'contact-channel');
      li.dataset.channel = i.channel;
      li.appendChild(el('span', 'badge channel', i.channel));
      li.appendChild(el('span', 'muted', ' ' + i.external_id));
      return li;
    }));
    ui.cConvs.replaceChildren(...(c.conversation_summaries || []).map((s) => {
      const li = el('li', 'conv-link');
      li.setAttribute('data-testid', 'contact-conversation');
      li.dataset.conversationId = String(s.id);
      const a = el('a', null, '#' + s.id + ' · ' + s.state + ' · ' + (s.last_message || ''));
      a.href = '#';
      a.addEventListener('click', (ev) => { ev.preventDefault(); openThread(s.id); });
      li.appendChild(a);
      return li;
    }));
    const current = st.selected && st.selected.channel;
    const channels = c.reachable_channels || [];
    ui.replyChannel.replaceChildren(...channels.map((ch) => {
      const o = el('option', null, ch + (ch === current ? ' (last used)' : ''));
      o.value = ch;
      return o;
    }));
    if (current && channels.includes(current)) ui.replyChannel.value = current;
    ui.cConsents.replaceChildren(...(c.consents || []).filter((k) => !k.allowed).map((k) => {
      const li = el('li', 'consent');
      li.setAttribute('data-testid', 'contact-consent');
      li.dataset.channel = k.channel;
      li.textContent = 'No messages on ' + k.channel + ' (' + k.external_id + '): ' + k.reason;
      return li;
    }));
    loadCanned();
    loadWindow();
  }

  // ---------- messaging windows: may a free reply go now, and until when ----------
  function when(iso) {
    return iso ? new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '';
  }

  async function loadWindow() {
    const id = st.selectedId;
    if (id == null) return;
    try {
      const data = await api('GET', '/api/v1/conversations/' + id + '/window');
      if (st.selectedId !== id) return;
      st.windows = new Map((data.channels || []).map((w) => [w.channel, w]));
    } catch (_) { st.windows = new Map(); }
    renderWindow();
  }

  function renderWindow() {
    const w = st.windows && st.windows.get(ui.replyChannel.value);
    let text = '';
    let template = false;
    if (w) {
      if (w.mode === 'suppressed') text = 'No messages on ' + w.channel + ': ' + w.suppressed;
      else if (w.mode === 'free' && w.free_until) text = 'Free reply possible until ' + when(w.free_until);
      else if (w.mode === 'free') text = 'Free reply possible (no messaging window on ' + w.channel + ')';
      else if (w.mode === 'human_agent') text = '24-hour window closed: your reply goes tagged HUMAN_AGENT, until ' + when(w.human_agent_until);
      else if (w.mode === 'template') { text = '24-hour window closed: send a template'; template = true; }
      else if (w.mode === 'closed') text = 'Messaging window closed: the customer must write first';
    }
    ui.replyWindow.textContent = text;
    ui.replyWindow.dataset.mode = w ? w.mode : '';
    ui.templateForm.hidden = !template || ui.replyPrivate.checked;
    ui.replyForm.hidden = template && !ui.replyPrivate.checked;
    if (template) loadTemplates();
  }

  async function loadTemplates() {
    try {
      const data = await api('GET', '/api/v1/templates');
      ui.templateSelect.replaceChildren(...(data.templates || []).map((t) => {
        const o = el('option', null, t.name + (t.variables.length ? ' (' + t.variables.join(', ') + ')' : ''));
        o.value = t.name;
        return o;
      }));
    } catch (_) { /* none */ }
  }

  async function sendTemplate() {
    const id = st.selectedId;
    const contact = st.contact;
    if (id == null || !contact || st.busy || !ui.templateSelect.value) return;
    const variables = {};
    ui.templateVars.value.split(',').forEach((pair) => {
      const i = pair.indexOf('=');
      if (i > 0) variables[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    });
    st.busy = true;
    try {
      const data = await api('POST', '/api/v1/contacts/' + contact.id + '/notify', {
        template: ui.templateSelect.value, variables, channel: ui.replyChannel.value });
      ui.templateVars.value = '';
      showActionError(null);
      if (data.message) onMessage(data.message);
    } catch (e) {
      if (e.status !== 401) showActionError('Template not sent: ' + e.message);
    } finally {
      st.busy = false;
      if (st.selectedId === id) renderHeader();
    }
  }

  async function loadCanned() {
    if (st.selectedId == null) return;
    try {
      const data = await api('GET', '/api/v1/canned?conversation_id=' + st.selectedId);
      const first = ui.canned.firstElementChild;
      ui.canned.replaceChildren(first, ...(data.canned || []).map((c) => {
        const o = el('option', null, c.shortcut);
        o.value = c.rendered;
        return o;
      }));
    } catch (_) { /* none */ }
  }

  function showTyping(text) {
    ui.typing.textContent = text || '';
    clearTimeout(st.typingTimer);
    if (text) st.typingTimer = setTimeout(() => { ui.typing.textContent = ''; }, 4000);
  }

  function sendTyping() {
    const now = Date.now();
    if (st.selectedId == null || ui.replyPrivate.checked || now - st.typingSent < 2000) return;
    if (st.ws && st.ws.readyState === WebSocket.OPEN) {
      st.typingSent = now;
      st.ws.send(JSON.stringify({ type: 'typing', conversation_id: st.selectedId }));
    }
  }

  // ---------- lists ----------
  async function loadLists() {
    const states = ['queued', 'assigned', 'bot'];
    const since = st.liveSeq;  // live changes numbered above this came during this load
    st.loading += 1;
    try {
      const results = await Promise.all(states.map((s) => api('GET', '/api/v1/conversations?state=' + s)));
      const fresh = new Map();
      // a live event may be newer than what these requests read: keep the newer one
      results.forEach((r) => (r.conversations || []).forEach((c) => {
        const other = fresh.get(c.id);  // in another list too: it moved between the requests
        if (other && ts(other) >= ts(c)) return;
        const known = st.convs.get(c.id);
        const keepKnown = known && ts(known) > ts(c);
        fresh.set(c.id, keepKnown ? known : c);
        // the server keeps unread counts per agent; a newer live event keeps the local count
        if (!keepKnown && typeof c.unread === 'number') {
          if (c.unread > 0 && c.id !== st.selectedId) st.unread.set(c.id, c.unread);
          else st.unread.delete(c.id);
        }
      }));
      // one that a live event brought after the requests read their lists is in none
      st.liveAt.forEach((seq, id) => {
        if (seq > since && !fresh.has(id) && st.convs.has(id)) fresh.set(id, st.convs.get(id));
      });
      st.convs = fresh;
      if (st.selectedId != null && fresh.has(st.selectedId)) {
        st.selected = { ...st.selected, ...fresh.get(st.selectedId) };
        renderHeader();
      }
      renderLists();
    } catch (e) {
      if (e.status !== 401) console.warn('supporthub: loading conversations failed', e);
    } finally {
      st.loading -= 1;
      if (!st.loading) st.liveAt.forEach((seq, id) => { if (seq <= since) st.liveAt.delete(id); });
    }
  }

  function renderItem(c) {
    const li = el('li', 'conv-item');
    li.setAttribute('data-testid', 'conversation-item');
    li.dataset.conversationId = String(c.id);
    li.tabIndex = 0;
    li.setAttribute('role', 'button');
    if (c.id === st.selectedId) { li.classList.add('selected'); li.setAttribute('aria-current', 'true'); }
    const top = el('div', 'conv-top');
    top.appendChild(el('span', 'conv-name', contactName(c)));
    const n = st.unread.get(c.id) || 0;
    if (n) {
      const b = el('span', 'unread', n);
      b.setAttribute('data-testid', 'unread');
      b.setAttribute('aria-label', n + ' unread');
      top.appendChild(b);
    }
    top.appendChild(el('span', 'badge channel', c.channel || ''));
    li.appendChild(top);
    const bottom = el('div', 'conv-bottom');
    const last = el('span', 'conv-last', c.last_message == null ? 'No messages yet' : c.last_message);
    last.setAttribute('data-testid', 'conversation-last');
    bottom.appendChild(last);
    bottom.appendChild(el('span', 'conv-time', fmtTime(c.updated_at || c.created_at)));
    li.appendChild(bottom);
    li.addEventListener('click', () => openThread(c.id));
    li.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openThread(c.id); }
    });
    return li;
  }

  function renderLists() {
    const buckets = { queue: [], mine: [], bot: [] };
    st.convs.forEach((c) => { const k = category(c); if (k) buckets[k].push(c); });
    buckets.queue.sort((a, b) => ts(a) - ts(b));     // longest waiting first
    buckets.mine.sort((a, b) => ts(b) - ts(a));
    buckets.bot.sort((a, b) => ts(b) - ts(a));
    Object.keys(buckets).forEach((k) => {
      const frag = document.createDocumentFragment();
      buckets[k].forEach((c) => frag.appendChild(renderItem(c)));
      if (!buckets[k].length) frag.appendChild(el('li', 'conv-empty', 'Nothing here'));
      ui.lists[k].replaceChildren(frag);
      ui.counts[k].textContent = String(buckets[k].length);
    });
  }

  function upsertConv(c) {
    if (!c || c.id == null) return;
    const merged = { ...(st.convs.get(c.id) || {}), ...c };
    st.convs.set(c.id, merged);
    st.liveAt.set(c.id, ++st.liveSeq);
    if (c.state === 'resolved') st.unread.delete(c.id);
    if (c.id === st.selectedId) {
      st.selected = { ...st.selected, ...merged };
      renderHeader();
    }
    renderLists();
    if (st.results) renderResults();
  }

  async function fetchConv(id) {
    if (st.fetching.has(id)) return;
    st.fetching.add(id);
    try {
      const data = await api('GET', '/api/v1/conversations/' + id);
      const c = data.conversation || data;
      delete c.messages;
      if (!st.convs.has(id)) upsertConv(c);
    } catch (_) { /* not visible to us */ } finally { st.fetching.delete(id); }
  }

  function onMessage(m) {
    if (!m || m.conversation_id == null) return;
    if (m.author === 'customer' && m.conversation_id === st.selectedId) loadWindow();
    const c = st.convs.get(m.conversation_id);
    if (c) {
      if (!m.private) c.last_message = m.text;
      if (m.created_at) c.updated_at = m.created_at;
      if (m.channel && m.author === 'customer') c.channel = m.channel;
      if (m.conversation_id !== st.selectedId && m.author === 'customer') {
        st.unread.set(c.id, (st.unread.get(c.id) || 0) + 1);
      }
      renderLists();
    } else {
      if (m.conversation_id !== st.selectedId && m.author === 'customer') {
        st.unread.set(m.conversation_id, (st.unread.get(m.conversation_id) || 0) + 1);
      }
      fetchConv(m.conversation_id);
    }
    if (m.conversation_id === st.selectedId) {
      appendThreadMessage(m, true);
      markRead(m.conversation_id, m.id);
    }
  }

  // tell the server this agent has read the conversation up to messageId (kept per agent)
  function markRead(id, messageId) {
    if (id == null || typeof messageId !== 'number') return;
    if ((st.readMarks.get(id) || 0) >= messageId) return;
    st.readMarks.set(id, messageId);
    api('POST', '/api/v1/conversations/' + id + '/read', { message_id: messageId }).catch((e) => {
      if (st.readMarks.get(id) === messageId) st.readMarks.delete(id);
      if (e.status !== 401) console.warn('supporthub: marking read failed', e);
    });
  }

  // ---------- thread ----------
  const AUTHOR_LABEL = { customer: 'Customer', bot: 'Bot', system: 'System' };

  function buildThreadMessage(m) {
    const author = ['customer', 'bot', 'agent', 'system'].includes(m.author) ? m.author : 'system';
    const box = el('div', 'tmsg tmsg-' + author + (m.private ? ' private' : ''));
    box.setAttribute('data-testid', 'thread-message');
    box.dataset.author = author;
    box.dataset.id = String(m.id);
    const head = el('div', 'tmsg-head');
    const label = author === 'agent' ? (m.agent_name || 'Agent') : AUTHOR_LABEL[author];
    head.appendChild(el('span', 'tmsg-author', label));
    if (m.private) head.appendChild(el('span', 'badge note', 'Private note'));
    if (m.channel) head.appendChild(el('span', 'badge channel', m.channel));
    const time = el('time', 'tmsg-time', fmtTime(m.created_at));
    if (m.created_at) { time.dateTime = m.created_at; time.title = new Date(m.created_at).toLocaleString(); }
    head.appendChild(time);
    box.appendChild(head);
    box.appendChild(el('div', 'msg-text', m.text == null ? '' : m.text));
    if (m.channel === 'email' && m.direction === 'in') box.appendChild(mailDetails(m.id));
    if (Array.isArray(m.suggestions) && m.suggestions.length) {
      box.appendChild(el('div', 'tmsg-suggest', 'Suggested: ' + m.suggestions.map((s) => s.title).join(' · ')));
    }
    return box;
  }

  // a mail's subject, sender, attachments and original, read when the message is shown
  function mailDetails(id) {
    const box = el('div', 'tmsg-mail');
    box.setAttribute('data-testid', 'mail-details');
    api('GET', '/api/v1/messages/' + id + '/email').then((d) => {
      const from = d.from_name ? d.from_name + ' <' + d.from + '>' : d.from;
      box.appendChild(el('div', 'mail-subject', 'Subject: ' + (d.subject || '(none)')));
      box.appendChild(el('div', 'mail-from', 'From: ' + (from || '(unknown)')));
      if (d.automated) box.appendChild(el('div', 'mail-auto', 'Automatic mail (' + d.automated + '): not answered by the bot'));
      (d.attachments || []).forEach((a) => {
        const label = a.filename + ' (' + Math.max(1, Math.round(a.size / 1024)) + ' KB)';
        if (a.url) {
          const link = el('a', 'mail-attachment', label);
          link.href = a.url;
          link.setAttribute('download', a.filename);
          box.appendChild(link);
        } else {
          box.appendChild(el('span', 'mail-attachment missing', label + ' — too large, not kept'));
        }
      });
      if (d.notes && d.notes.length) box.appendChild(el('div', 'mail-notes', 'Could not read everything: ' + d.notes.join('; ')));
      const original = el('a', 'mail-original', 'Show original');
      original.href = d.original_url;
      original.target = '_blank';
      original.rel = 'noopener';
      box.appendChild(original);
    }).catch(() => { /* not a stored mail (sent before the hub kept originals) */ });
    return box;
  }

  function appendThreadMessage(m, live) {
    if (!m || m.id == null || st.threadSeen.has(m.id)) return;
    st.threadSeen.add(m.id);
    const stick = !live || ui.thread.scrollHeight - ui.thread.scrollTop - ui.thread.clientHeight < 120;
    const node = buildThreadMessage(m);
    let after = ui.thread.lastElementChild;
    while (after && Number(after.dataset.id) > m.id) after = after.previousElementSibling;
    if (after) after.after(node); else ui.thread.prepend(node);
    if (stick) ui.thread.scrollTop = ui.thread.scrollHeight;
  }

  async function openThread(id, { keepError = false } = {}) {
    const switching = id !== st.selectedId;
    st.selectedId = id;
    st.unread.delete(id);
    if (!keepError) showActionError(null);
    if (switching) {
      st.selected = st.convs.get(id) || { id };
      st.threadSeen.clear();
      ui.thread.replaceChildren();
      ui.replyInput.value = '';
      ui.empty.hidden = true;
      ui.threadView.hidden = false;
      renderHeader();
    }
    renderLists();
    try {
      const data = await api('GET', '/api/v1/conversations/' + id);
      if (st.selectedId !== id) return;
      const conv = data.conversation || data;
      const messages = data.messages || conv.messages || [];
      const plain = { ...conv };
      delete plain.messages;
      st.selected = plain;
      if (st.convs.has(id) || category(plain)) st.convs.set(id, { ...(st.convs.get(id) || {}), ...plain });
      st.threadSeen.clear();
      ui.thread.replaceChildren();
      messages.forEach((m) => appendThreadMessage(m, false));
      const newest = messages.reduce((n, m) => (typeof m.id === 'number' && m.id > n ? m.id : n), 0);
      if (newest) markRead(id, newest);
      renderHeader();
      renderLists();
      showTyping('');
      loadContact(plain.contact_id);
    } catch (e) {
      if (st.selectedId === id && e.status !== 401) showActionError(e.status === 404 ? 'Conversation not found' : e.message);
    }
  }

  function renderHeader() {
    const c = st.selected;
    if (!c) return;
    ui.contact.textContent = contactName(c);
    ui.state.textContent = c.state || '';
    ui.state.dataset.state = c.state || '';
    ui.channel.textContent = c.channel || '';
    ui.channel.hidden = !c.channel;
    ui.agent.textContent = c.assigned_agent ? 'Assigned to ' + (mineConv(c) ? 'you' : c.assigned_agent.name) : 'Unassigned';
    const mine = mineConv(c);
    ui.claim.hidden = !(c.state === 'queued' || c.state === 'bot');
    ui.release.hidden = !mine;
    ui.resolve.hidden = !mine;
    [ui.claim, ui.release, ui.resolve].forEach((b) => { b.disabled = st.busy; });
    const note = ui.replyPrivate.checked;
    ui.replyInput.disabled = !(mine || note);
    ui.replyInput.placeholder = note ? 'Write a private note (only agents see it)…'
      : mine ? 'Write a reply… (Enter to send, Shift+Enter for a new line)'
      : c.state === 'resolved' ? 'This conversation is resolved' : 'Claim the conversation to reply';
    ui.replyChannel.disabled = note;
    updateReplyState();
  }

  function updateReplyState() {
    ui.replySend.disabled = st.busy || ui.replyInput.disabled || ui.replyInput.value.trim() === '';
  }

  function showActionError(msg) {
    ui.actionError.textContent = msg || '';
    ui.actionError.hidden = !msg;
  }

  async function doAction(kind) {
    const id = st.selectedId;
    if (id == null || st.busy) return;
    st.busy = true;
    renderHeader();
    showActionError(null);
    try {
      const data = await api('POST', '/api/v1/conversations/' + id + '/' + kind);
      const c = data.conversation || data;
      if (c && c.id != null) upsertConv(c);
      if (kind === 'claim') ui.replyInput.focus();
    } catch (e) {
      if (e.status === 409 && kind === 'claim') showActionError('Another agent claimed this conversation');
      else if (e.status !== 401) showActionError(e.message);
      if (e.status === 409 || e.status === 404) { st.busy = false; openThread(id, { keepError: true }); }
    } finally {
      st.busy = false;
      if (st.selectedId === id) renderHeader();
    }
  }

  async function sendReply() {
    const id = st.selectedId;
    const text = ui.replyInput.value.trim();
    if (id == null || !text || st.busy || ui.replyInput.disabled) return;
    st.busy = true;
    updateReplyState();
    try {
      const note = ui.replyPrivate.checked;
      const channel = ui.replyChannel.value;
      const body = { text };
      if (!note && channel && st.selected && channel !== st.selected.channel) body.channel = channel;
      const data = note ? await api('POST', '/api/v1/conversations/' + id + '/notes', { text })
        : await api('POST', '/api/v1/conversations/' + id + '/messages', body);
      ui.replyInput.value = '';
      showActionError(null);
      if (data.message) onMessage(data.message);
    } catch (e) {
      if (e.status !== 401) showActionError('Reply not sent: ' + e.message);
    } finally {
      st.busy = false;
      if (st.selectedId === id) renderHeader(); else updateReplyState();
      ui.replyInput.focus();
    }
  }

  // ---------- live updates ----------
  function setConn(open) {
    ui.conn.dataset.state = open ? 'open' : 'closed';
    ui.conn.title = open ? 'Live' : 'Reconnecting…';
  }

  function closeSocket() {
    st.wsGen++;
    clearTimeout(st.retryTimer);
    if (st.ws) { try { st.ws.close(); } catch (_) { /* ignore */ } }
    st.ws = null;
    setConn(false);
  }

  function connect() {
    if (!st.me) return;
    const gen = ++st.wsGen;
    clearTimeout(st.retryTimer);
    const url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/api/v1/agent/ws';
    let sock;
    try { sock = new WebSocket(url); } catch (_) { scheduleReconnect(gen); return; }
    st.ws = sock;
    sock.onopen = () => {
      if (gen !== st.wsGen) return;
      st.retryDelay = 1000;
      setConn(true);
      // Anything may have happened while we were away (or before the socket opened).
      loadLists();
      if (st.selectedId != null) openThread(st.selectedId, { keepError: true });
    };
    sock.onmessage = (ev) => {
      if (gen !== st.wsGen) return;
      let f;
      try { f = JSON.parse(ev.data); } catch (_) { return; }
      if (f.type === 'conversation') upsertConv(f.conversation);
      else if (f.type === 'message') {
        onMessage(f.message);
        if (f.message && f.message.conversation_id === st.selectedId && f.message.author === 'customer') showTyping('');
      } else if (f.type === 'typing' && f.conversation_id === st.selectedId) showTyping('Customer is typing…');
    };
    sock.onclose = (ev) => {
      if (gen !== st.wsGen) return;
      setConn(false);
      // 4401: the session that opened the socket ended (logout, deactivation, expiry…)
      if (ev.code === 4401) { showLogin('Your session has ended. Please sign in again.'); return; }
      scheduleReconnect(gen);
    };
  }

  function scheduleReconnect(gen) {
    const delay = st.retryDelay;
    st.retryDelay = Math.min(st.retryDelay * 2, 10000);
    st.retryTimer = setTimeout(async () => {
      if (gen !== st.wsGen || !st.me) return;
      try { await api('GET', '/api/v1/auth/me'); } catch (e) {
        if (e.status === 401) return;   // showLogin() already ran
      }
      if (gen === st.wsGen && st.me) connect();
    }, delay);
  }

  // ---------- events ----------
  ui.loginForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ui.loginForm.elements;
    const email = f.email.value.trim();
    const password = f.password.value;
    const btn = ui.loginForm.querySelector('[data-testid="login-submit"]');
    if (!email || !password) { ui.loginError.textContent = 'Enter your email and password.'; return; }
    btn.disabled = true;
    ui.loginError.textContent = '';
    try {
      const data = await api('POST', '/api/v1/auth/login', { email, password }, { auth401: false });
      f.password.value = '';
      enterApp(data.user);
    } catch (e) {
      ui.loginError.textContent = e.status === 429 ? 'Too many attempts, try again later.' : e.message;
    } finally {
      btn.disabled = false;
    }
  });

  ui.logout.addEventListener('click', async () => {
    await setStatus('away');
    closeSocket();
    try { await api('POST', '/api/v1/auth/logout', undefined, { auth401: false }); } catch (_) { /* ignore */ }
    showLogin();
  });

  ui.claim.addEventListener('click', () => doAction('claim'));
  ui.release.addEventListener('click', () => doAction('release'));
  ui.resolve.addEventListener('click', () => doAction('resolve'));
  ui.replyForm.addEventListener('submit', (ev) => { ev.preventDefault(); sendReply(); });
  ui.replyInput.addEventListener('input', () => { updateReplyState(); sendTyping(); });
  ui.replyPrivate.addEventListener('change', () => { renderHeader(); renderWindow(); });
  ui.replyChannel.addEventListener('change', renderWindow);
  ui.templateForm.addEventListener('submit', (ev) => { ev.preventDefault(); sendTemplate(); });
  ui.status.addEventListener('change', () => setStatus(ui.status.value));
  [ui.search, ui.fState, ui.fChannel, ui.fAgent].forEach((n) => n.addEventListener('input', onFilter));
  document.getElementById('filters').addEventListener('submit', (ev) => { ev.preventDefault(); runFilter(); });
  ui.canned.addEventListener('change', () => {
    if (!ui.canned.value) return;
    ui.replyInput.value = ui.replyInput.value ? ui.replyInput.value + ' ' + ui.canned.value : ui.canned.value;
    ui.canned.value = '';
    updateReplyState();
    ui.replyInput.focus();
  });
  ui.contactForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!st.contact) return;
    ui.cSaved.textContent = '';
    try {
      renderContact(await api('PATCH', '/api/v1/contacts/' + st.contact.id, {
        name: ui.cName.value, email: ui.cEmail.value, phone: ui.cPhone.value,
        attributes: parseAttrs(ui.cAttrs.value),
      }));
      ui.cSaved.textContent = 'Saved';
      loadLists();
    } catch (e) { ui.cError.textContent = e.message; }
  });
  ui.mergeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const other = Number(ui.mergeOther.value.trim());
    if (!st.contact || !other) return;
    try {
      const data = await api('POST', '/api/v1/contacts/' + st.contact.id + '/merge', { other_id: other });
      st.lastMerge = data.merge_id;
      ui.mergeUndo.hidden = false;
      ui.mergeOther.value = '';
      renderContact(data);
    } catch (e) { ui.cError.textContent = e.message; }
  });
  ui.mergeUndo.addEventListener('click', async () => {
    if (st.lastMerge == null) return;
    try {
      await api('POST', '/api/v1/contacts/merges/' + st.lastMerge + '/undo');
      st.lastMerge = null;
      ui.mergeUndo.hidden = true;
      if (st.contact) loadContact(st.contact.id);
    } catch (e) { ui.cError.textContent = e.message; }
  });
  ui.replyInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendReply(); }
  });

  // ---------- boot ----------
  (async () => {
    try {
      const data = await api('GET', '/api/v1/auth/me', undefined, { auth401: false });
      if (data.user) enterApp(data.user); else showLogin();
    } catch (e) {
      showLogin(e.status === 401 ? '' : 'Cannot reach the server: ' + e.message);
    }
  })();
})();
