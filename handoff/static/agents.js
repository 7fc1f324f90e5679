/* supporthub agent administration — vanilla ES2020; every user text via textContent. */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, text) => { const n = document.createElement(tag); if (text != null) n.textContent = String(text); return n; };
  const body = $('agents-body'), error = $('agents-error'), notice = $('agents-notice');

  async function api(method, path, data) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (data !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(data); }
    const res = await fetch(path, opts);
    let out = null;
    try { out = await res.json(); } catch (_) { out = null; }
    if (!res.ok) throw new Error((out && out.error && out.error.message) || 'Request failed (' + res.status + ')');
    return out || {};
  }

  function button(label, testid, onClick) {
    const b = el('button', label);
    b.type = 'button';
    b.className = 'btn';
    b.setAttribute('data-testid', testid);
    b.addEventListener('click', () => run(onClick));
    return b;
  }

  async function run(work) {
    error.textContent = '';
    try { await work(); } catch (e) { error.textContent = e.message; }
  }

  function row(a) {
    const tr = el('tr');
    tr.setAttribute('data-testid', 'agent-row');
    tr.dataset.email = a.email;
    tr.dataset.active = String(a.active);
    tr.appendChild(el('td', a.name));
    tr.appendChild(el('td', a.email));
    const roleCell = el('td');
    const role = document.createElement('select');
    role.setAttribute('data-testid', 'agent-role');
    ['agent', 'admin'].forEach((r) => { const o = el('option', r); o.value = r; role.appendChild(o); });
    role.value = a.role;
    role.addEventListener('change', () => run(async () => { await api('PATCH', '/api/v1/agents/' + a.id, { role: role.value }); await load(); }));
    roleCell.appendChild(role);
    tr.appendChild(roleCell);
    tr.appendChild(el('td', a.status));
    tr.appendChild(el('td', a.open_conversations));
    const active = el('td', a.active ? 'active' : 'deactivated');
    active.setAttribute('data-testid', 'agent-active');
    tr.appendChild(active);
    const actions = el('td');
    actions.appendChild(button(a.active ? 'Deactivate' : 'Reactivate', 'agent-toggle', async () => {
      await api('PATCH', '/api/v1/agents/' + a.id, { active: !a.active });
      await load();
    }));
    actions.appendChild(button('Reset password', 'agent-reset', async () => {
      const out = await api('POST', '/api/v1/agents/' + a.id + '/password', {});
      notice.textContent = 'New password for ' + a.email + ': ' + out.password;
    }));
    tr.appendChild(actions);
    return tr;
  }

  async function load() {
    const data = await api('GET', '/api/v1/agents');
    body.replaceChildren(...data.agents.map(row));
  }

  $('invite-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    run(async () => {
      const payload = { email: f.email.value.trim(), name: f.name.value.trim() || undefined, role: f.role.value };
      if (f.password.value) payload.password = f.password.value;
      const out = await api('POST', '/api/v1/agents', payload);
      notice.textContent = out.password ? 'Added ' + out.email + '; password: ' + out.password : 'Added ' + out.email;
      ev.target.reset();
      await load();
    });
  });

  run(load);
})();
