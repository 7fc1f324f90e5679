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
  };

  const st = {
    me: null,
    convs: new Map(),      // id -> conversation
    unread: new Map(),     // id -> count
    selectedId: null,
    selected: null,
    threadSeen: new Set(),
    ws: null, wsGen: 0, retryDelay: 1000, retryTimer: null,
    busy: false,
    fetching: new Set(),
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
  }

  // ---------- lists ----------
  async function loadLists() {
    const states = ['queued', 'assigned', 'bot'];
    try {
      const results = await Promise.all(states.map((s) => api('GET', '/api/v1/conversations?state=' + s)));
      const fresh = new Map();
      results.forEach((r) => (r.conversations || []).forEach((c) => fresh.set(c.id, c)));
      st.convs = fresh;
      if (st.selectedId != null && fresh.has(st.selectedId)) {
        st.selected = { ...st.selected, ...fresh.get(st.selectedId) };
        renderHeader();
      }
      renderLists();
    } catch (e) {
      if (e.status !== 401) console.warn('supporthub: loading conversations failed', e);
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
    if (c.state === 'resolved') st.unread.delete(c.id);
    if (c.id === st.selectedId) {
      st.selected = { ...st.selected, ...merged };
      renderHeader();
    }
    renderLists();
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
      fetchConv(m.conversation_id);
    }
    if (m.conversation_id === st.selectedId) appendThreadMessage(m, true);
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
    if (Array.isArray(m.suggestions) && m.suggestions.length) {
      box.appendChild(el('div', 'tmsg-suggest', 'Suggested: ' + m.suggestions.map((s) => s.title).join(' · ')));
    }
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
      renderHeader();
      renderLists();
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
    ui.replyInput.disabled = !mine;
    ui.replyInput.placeholder = mine ? 'Write a reply… (Enter to send, Shift+Enter for a new line)'
      : c.state === 'resolved' ? 'This conversation is resolved' : 'Claim the conversation to reply';
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
      const data = await api('POST', '/api/v1/conversations/' + id + '/messages', { text });
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
      else if (f.type === 'message') onMessage(f.message);
    };
    sock.onclose = () => {
      if (gen !== st.wsGen) return;
      setConn(false);
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
    closeSocket();
    try { await api('POST', '/api/v1/auth/logout', undefined, { auth401: false }); } catch (_) { /* ignore */ }
    showLogin();
  });

  ui.claim.addEventListener('click', () => doAction('claim'));
  ui.release.addEventListener('click', () => doAction('release'));
  ui.resolve.addEventListener('click', () => doAction('resolve'));
  ui.replyForm.addEventListener('submit', (ev) => { ev.preventDefault(); sendReply(); });
  ui.replyInput.addEventListener('input', updateReplyState);
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
