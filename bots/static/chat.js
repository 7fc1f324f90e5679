/* supporthub web chat — vanilla ES2020, no dependencies.
 * All customer/bot/agent text is rendered with DOM text nodes, never as HTML. */
(() => {
  'use strict';

  const TOKEN_KEY = 'supporthub.visitor_token';
  const API = '/api/v1/webchat';
  const HUMAN_TEXT = 'I want to talk to a human';

  if (new URLSearchParams(location.search).get('embed') === '1') {
    document.documentElement.classList.add('embed');
  }

  const $ = (id) => document.getElementById(id);
  const listEl = $('messages');
  const form = $('chat-form');
  const input = $('chat-input');
  const sendBtn = $('chat-send');
  const humanBtn = document.querySelector('[data-testid="ask-human"]');
  const connEl = $('conn-status');
  const stateEl = $('conv-state');
  const errorEl = $('chat-error');
  const typingEl = $('agent-typing');
  const linkPanel = $('link-panel');
  const CHANNEL_NAMES = { telegram: 'Telegram', sms: 'SMS', whatsapp: 'WhatsApp', slack: 'Slack',
    messenger: 'Messenger', instagram: 'Instagram', email: 'email' };
  let typingTimer = null;
  let typingSent = 0;

  // localStorage can throw inside third-party iframes with storage blocked.
  let memToken = null;
  const store = {
    get() { try { return localStorage.getItem(TOKEN_KEY); } catch (_) { return memToken; } },
    set(v) { memToken = v; try { localStorage.setItem(TOKEN_KEY, v); } catch (_) { /* memory only */ } },
    drop() { memToken = null; try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ } },
  };

  let token = store.get();
  let lastId = 0;
  const seen = new Set();
  let sessionPromise = null;
  let ws = null;
  let wsGen = 0;          // bumps whenever we deliberately replace the socket
  let retryDelay = 1000;
  let retryTimer = null;
  let sending = false;
  let restarting = null;

  class HttpError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  // ---------- HTTP ----------
  async function request(method, path, body, auth = true) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new HttpError(res.status, err.code || 'http_' + res.status, err.message || 'Request failed (' + res.status + ')');
    }
    return data || {};
  }

  async function ensureSession() {
    if (token) return token;
    if (!sessionPromise) {
      sessionPromise = request('POST', API + '/sessions', {}, false)
        .then((data) => { token = data.visitor_token; store.set(token); return token; })
        .finally(() => { sessionPromise = null; });
    }
    return sessionPromise;
  }

  // Authenticated call; on 401 drop the token, start a fresh session and retry once.
  async function authed(method, path, body) {
    await ensureSession();
    try {
      return await request(method, path, body);
    } catch (e) {
      if (e.status !== 401) throw e;
      await restart();
      return request(method, path, body);
    }
  }

  // Stored token no longer valid: forget it, clear the view, start over.
  function restart() {
    if (!restarting) {
      restarting = (async () => {
        token = null;
        store.drop();
        closeSocket();
        lastId = 0;
        seen.clear();
        listEl.textContent = '';
        setConvState(null);
        await ensureSession();
        await loadHistory(false);
        connect();
      })().finally(() => { restarting = null; });
    }
    return restarting;
  }

  async function loadHistory(useAfter) {
    const q = useAfter && lastId ? '?after=' + encodeURIComponent(lastId) : '';
    const data = await request('GET', API + '/messages' + q);
    (data.messages || []).forEach(addMessage);
  }

  // ---------- rendering ----------
  const SAFE_LINK = /\*\*([^*]+?)\*\*|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

  function safeUrl(u) {
    try {
      const url = new URL(u);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (_) { return null; }
  }

  function makeLink(href, label) {
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    a.textContent = label;
    return a;
  }

  function appendInline(parent, line) {
    let pos = 0;
    SAFE_LINK.lastIndex = 0;
    let m;
    while ((m = SAFE_LINK.exec(line)) !== null) {
      if (m.index > pos) parent.appendChild(document.createTextNode(line.slice(pos, m.index)));
      let node = null;
      if (m[1] !== undefined) {
        node = document.createElement('strong');
        node.textContent = m[1];
      } else if (m[2] !== undefined) {
        const href = safeUrl(m[3]);
        node = href ? makeLink(href, m[2]) : document.createTextNode(m[0]);
      } else {
        const href = safeUrl(m[4]);
        node = href ? makeLink(href, m[4]) : document.createTextNode(m[0]);
      }
      parent.appendChild(node);
      pos = m.index + m[0].length;
    }
    if (pos < line.length) parent.appendChild(document.createTextNode(line.slice(pos)));
  }

  function renderText(el, text, rich) {
    const lines = String(text == null ? '' : text).split(/\r?\n/);
    lines.forEach((line, i) => {
      if (i > 0) el.appendChild(document.createElement('br'));
      if (rich) appendInline(el, line);
      else el.appendChild(document.createTextNode(line));
    });
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function buildMessage(m) {
    const author = ['customer', 'bot', 'agent', 'system'].includes(m.author) ? m.author : 'system';
    const el = document.createElement('div');
    el.className = 'msg msg-' + author;
    el.setAttribute('data-testid', 'message');
    el.dataset.author = author;
    el.dataset.id = String(m.id);

    if (author === 'agent' || author === 'bot') {
      const label = document.createElement('span');
      label.className = 'msg-label';
      label.textContent = author === 'agent' ? (m.agent_name || 'Agent') : 'Assistant';
      el.appendChild(label);
    }

    const bubble = document.createElement('div');
    bubble.className = 'msg-text';
    renderText(bubble, m.text, author === 'bot' || author === 'agent');
    el.appendChild(bubble);

    if (author === 'bot' && Array.isArray(m.suggestions) && m.suggestions.length) {
      const box = document.createElement('div');
      box.className = 'suggestions';
      box.setAttribute('role', 'group');
      box.setAttribute('aria-label', 'Suggested articles');
      m.suggestions.forEach((s) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'suggestion';
        b.setAttribute('data-testid', 'suggestion');
        b.dataset.articleId = String(s.article_id);
        b.textContent = s.title;
        b.addEventListener('click', () => choose(s.article_id, box));
        box.appendChild(b);
      });
      el.appendChild(box);
    }

    if (author === 'bot' && m.csat) {  // the satisfaction survey: five buttons
      const box = document.createElement('div');
      box.className = 'suggestions';
      box.setAttribute('role', 'group');
      box.setAttribute('aria-label', 'Rate us from 1 to 5');
      [1, 2, 3, 4, 5].forEach((score) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'suggestion';
        b.setAttribute('data-testid', 'csat-' + score);
        b.textContent = String(score);
        b.addEventListener('click', async () => {
          box.querySelectorAll('button').forEach((x) => { x.disabled = true; });
          if (!(await post({ csat: score }))) box.querySelectorAll('button').forEach((x) => { x.disabled = false; });
        });
        box.appendChild(b);
      });
      el.appendChild(box);
    }

    if (author === 'bot' && m.article_id && !(m.suggestions && m.suggestions.length)) {
      const down = document.createElement('button');
      down.type = 'button';
      down.className = 'feedback';
      down.setAttribute('data-testid', 'unhelpful');
      down.setAttribute('aria-label', 'This did not help');
      down.title = 'This did not help';
      down.textContent = '\u{1F44E}';
      down.addEventListener('click', async () => {
        down.disabled = true;
        if (!(await post({ feedback: 'unhelpful', message_id: m.id }))) down.disabled = false;
      });
      el.appendChild(down);
    }

    const t = fmtTime(m.created_at);
    if (t && author !== 'system') {
      const time = document.createElement('time');
      time.className = 'msg-time';
      time.dateTime = m.created_at;
      time.textContent = t;
      el.appendChild(time);
    }
    return el;
  }

  function nearBottom() {
    return listEl.scrollHeight - listEl.scrollTop - listEl.clientHeight < 80;
  }

  function addMessage(m) {
    if (!m || typeof m.id !== 'number' || seen.has(m.id) || m.private) return;
    seen.add(m.id);
    const stick = nearBottom() || m.author === 'customer';
    const el = buildMessage(m);
    // Keep id order even if a POST response and a WS frame race.
    let after = listEl.lastElementChild;
    while (after && Number(after.dataset.id) > m.id) after = after.previousElementSibling;
    if (after) after.after(el); else listEl.prepend(el);
    if (m.id > lastId) lastId = m.id;
    if (stick) listEl.scrollTop = listEl.scrollHeight;
  }

  function setConvState(conv) {
    let text = 'We usually answer in seconds';
    if (conv) {
      if (conv.state === 'queued') text = 'Waiting for an agent to join…';
      else if (conv.state === 'assigned') text = (conv.assigned_agent && conv.assigned_agent.name ? conv.assigned_agent.name : 'An agent') + ' has joined the chat';
      else if (conv.state === 'resolved') text = 'This conversation was resolved — write again any time';
    }
    stateEl.textContent = text;
    stateEl.dataset.state = conv ? conv.state : '';
  }

  function showError(msg) {
    if (!msg) { errorEl.hidden = true; errorEl.textContent = ''; return; }
    errorEl.textContent = msg;
    errorEl.hidden = false;
  }

  function setConn(open) {
    connEl.dataset.state = open ? 'open' : 'closed';
    const label = open ? 'Connected' : 'Reconnecting…';
    connEl.title = label;
    connEl.setAttribute('aria-label', label);
  }

  // ---------- sending ----------
  function updateSendState() {
    sendBtn.disabled = sending || input.value.trim() === '';
    humanBtn.disabled = sending;
  }

  async function post(body) {
    sending = true;
    updateSendState();
    try {
      const data = await authed('POST', API + '/messages', body);
      if (data.message) addMessage(data.message);
      showError(null);
      return true;
    } catch (e) {
      showError(e.status === 429 ? 'You are sending messages too fast, please wait a moment.' : 'Message not sent: ' + e.message);
      return false;
    } finally {
      sending = false;
      updateSendState();
    }
  }

  async function sendText(text) {
    text = text.trim();
    if (!text) return false;
    return post({ text });
  }

  async function choose(articleId, box) {
    const buttons = box.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    const ok = await post({ choice: articleId });
    if (!ok) buttons.forEach((b) => { b.disabled = false; });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim() || sending) return;
    if (await sendText(text)) {
      input.value = '';
      updateSendState();
    }
    input.focus();
  });
  input.addEventListener('input', () => { updateSendState(); sendTyping(); });

  // ---------- typing, continue elsewhere ----------
  function showTyping(text) {
    typingEl.textContent = text;
    clearTimeout(typingTimer);
    if (text) typingTimer = setTimeout(() => { typingEl.textContent = ''; }, 4000);
  }

  function sendTyping() {
    const now = Date.now();
    if (!ws || ws.readyState !== WebSocket.OPEN || now - typingSent < 2000) return;
    typingSent = now;
    ws.send(JSON.stringify({ type: 'typing' }));
  }

  async function openLinks() {
    if (!linkPanel.hidden) { linkPanel.hidden = true; return; }
    try {
      await ensureSession();
      const data = await request('POST', API + '/sessions', {});
      const box = $('link-channels');
      box.replaceChildren();
      (data.link_channels || []).forEach((ch) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'suggestion';
        b.setAttribute('data-testid', 'link-channel');
        b.dataset.channel = ch;
        b.textContent = CHANNEL_NAMES[ch] || ch;
        b.addEventListener('click', () => getCode(ch));
        box.appendChild(b);
      });
      if (!box.childElementCount) box.textContent = 'No other channel is available right now.';
      linkPanel.hidden = false;
    } catch (e) { showError('Cannot offer other channels: ' + e.message); }
  }

  async function getCode(channel) {
    try {
      const offer = await authed('POST', API + '/links', { channel });
      $('link-instructions').textContent = offer.instructions;
      $('link-code').textContent = offer.code;
      $('link-expiry').textContent = '(valid until ' + fmtTime(offer.expires_at) + ')';
      const a = $('link-url');
      const href = offer.url ? safeUrl(offer.url) : null;
      a.hidden = !href;
      if (href) a.href = href;
      $('link-offer').hidden = false;
    } catch (e) { showError('No code: ' + e.message); }
  }
  $('continue-elsewhere').addEventListener('click', openLinks);
  humanBtn.addEventListener('click', () => { if (!sending) sendText(HUMAN_TEXT); });

  // ---------- live updates ----------
  function closeSocket() {
    wsGen++;
    clearTimeout(retryTimer);
    if (ws) { try { ws.close(); } catch (_) { /* ignore */ } }
    ws = null;
    setConn(false);
  }

  function connect() {
    if (!token) return;
    const gen = ++wsGen;
    clearTimeout(retryTimer);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + API + '/ws?token=' + encodeURIComponent(token) +
      '&after=' + encodeURIComponent(lastId);
    let sock;
    try { sock = new WebSocket(url); } catch (_) { scheduleReconnect(gen); return; }
    ws = sock;
    sock.onopen = () => {
      if (gen !== wsGen) return;
      retryDelay = 1000;
      setConn(true);
    };
    sock.onmessage = (ev) => {
      if (gen !== wsGen) return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch (_) { return; }
      if (frame.type === 'message') {
        addMessage(frame.message);
        if (frame.message && frame.message.author === 'agent') showTyping('');
      } else if (frame.type === 'typing') showTyping((frame.name || 'An agent') + ' is typing…');
      else if (frame.type === 'conversation') setConvState(frame.conversation);
    };
    sock.onclose = () => {
      if (gen !== wsGen) return;
      setConn(false);
      scheduleReconnect(gen);
    };
  }

  function scheduleReconnect(gen) {
    const delay = retryDelay;
    retryDelay = Math.min(retryDelay * 2, 10000);
    retryTimer = setTimeout(async () => {
      if (gen !== wsGen) return;
      // Catch up over HTTP first; this also detects a revoked token (401).
      try { await loadHistory(true); } catch (e) {
        if (e.status === 401) { restart().catch(() => scheduleReconnect(wsGen)); return; }
      }
      if (gen === wsGen) connect();
    }, delay);
  }

  // ---------- start ----------
  async function start() {
    try {
      await ensureSession();
      try {
        await loadHistory(false);
      } catch (e) {
        if (e.status === 401) { await restart(); return; }
        throw e;
      }
      connect();
    } catch (e) {
      setConn(false);
      showError('Cannot reach support right now. Retrying…');
      const delay = retryDelay;
      retryDelay = Math.min(retryDelay * 2, 10000);
      setTimeout(() => { showError(null); start(); }, delay);
    }
  }

  updateSendState();
  start();
})();
