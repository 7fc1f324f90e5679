/* supporthub embeddable chat widget.
 * Usage: <script src="https://your-hub/widget.js" async></script>
 * Exposes only window.SupportHub = { open(), close() }. */
(function () {
  'use strict';
  if (window.SupportHub && window.SupportHub.__loaded) return;

  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName('script');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src)) { script = all[i]; break; }
    }
  }
  var origin;
  try { origin = new URL(script && script.src ? script.src : location.href).origin; }
  catch (e) { origin = location.origin; }

  var Z = 2147483000;
  var bubble = null, panel = null, frame = null, isOpen = false;

  var ICON_CHAT = '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M6 4h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4V6a2 2 0 0 1 2-2z"/></svg>';
  var ICON_CLOSE = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" d="M6 6l12 12M18 6L6 18"/></svg>';

  function css(el, styles) {
    for (var k in styles) el.style.setProperty(k, styles[k], 'important');
  }

  function layoutPanel() {
    if (!panel) return;
    var small = window.innerWidth < 480;
    css(panel, small ? {
      right: '0', bottom: '0', left: '0', top: '0', width: '100%', height: '100%', 'border-radius': '0'
    } : {
      right: '20px', bottom: '92px', left: 'auto', top: 'auto', width: '380px',
      height: 'min(600px, calc(100vh - 120px))', 'border-radius': '16px'
    });
    if (bubble) css(bubble, { display: small && isOpen ? 'none' : 'flex' });
    if (panel.__close) css(panel.__close, { display: small && isOpen ? 'flex' : 'none' });
  }

  function build() {
    if (bubble) return;
    bubble = document.createElement('button');
    bubble.type = 'button';
    bubble.id = 'supporthub-bubble';
    bubble.setAttribute('data-testid', 'supporthub-bubble');
    bubble.setAttribute('aria-label', 'Open support chat');
    bubble.setAttribute('aria-expanded', 'false');
    bubble.innerHTML = ICON_CHAT; // static markup only
    css(bubble, {
      position: 'fixed', right: '20px', bottom: '20px', width: '60px', height: '60px',
      'border-radius': '50%', border: '0', margin: '0', padding: '0', cursor: 'pointer',
      background: '#2f5bea', color: '#fff', display: 'flex', 'align-items': 'center',
      'justify-content': 'center', 'box-shadow': '0 6px 20px rgba(20,30,60,.3)',
      'z-index': String(Z + 1), transition: 'transform .15s ease'
    });
    bubble.addEventListener('mouseenter', function () { bubble.style.setProperty('transform', 'scale(1.06)', 'important'); });
    bubble.addEventListener('mouseleave', function () { bubble.style.setProperty('transform', 'none', 'important'); });
    bubble.addEventListener('click', function () { if (isOpen) close(); else open(); });
    document.body.appendChild(bubble);
    window.addEventListener('resize', layoutPanel);
  }

  function buildPanel() {
    if (panel) return;
    panel = document.createElement('div');
    panel.id = 'supporthub-panel';
    panel.setAttribute('data-testid', 'supporthub-panel');
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', 'Support chat');
    css(panel, {
      position: 'fixed', overflow: 'hidden', background: '#fff', display: 'none',
      'box-shadow': '0 12px 48px rgba(20,30,60,.28)', 'z-index': String(Z), margin: '0', padding: '0'
    });
    frame = document.createElement('iframe');
    frame.id = 'supporthub-frame';
    frame.setAttribute('data-testid', 'supporthub-frame');
    frame.title = 'Support chat';
    frame.src = origin + '/chat?embed=1';
    frame.setAttribute('allow', 'clipboard-write');
    css(frame, { border: '0', width: '100%', height: '100%', display: 'block', margin: '0', padding: '0' });
    panel.appendChild(frame);

    // Small close control for the full-screen (mobile) layout.
    var x = document.createElement('button');
    x.type = 'button';
    x.setAttribute('aria-label', 'Close support chat');
    x.setAttribute('data-testid', 'supporthub-close');
    x.innerHTML = ICON_CLOSE;
    css(x, {
      position: 'absolute', top: '10px', right: '52px', width: '32px', height: '32px', border: '0',
      'border-radius': '50%', background: 'rgba(255,255,255,.2)', color: '#fff', cursor: 'pointer',
      display: 'none', 'align-items': 'center', 'justify-content': 'center', padding: '0'
    });
    x.addEventListener('click', close);
    panel.appendChild(x);
    panel.__close = x;
    document.body.appendChild(panel);
  }

  function open() {
    whenReady(function () {
      build();
      buildPanel();
      isOpen = true;
      css(panel, { display: 'block' });
      bubble.innerHTML = ICON_CLOSE;
      bubble.setAttribute('aria-label', 'Close support chat');
      bubble.setAttribute('aria-expanded', 'true');
      layoutPanel();
      try { frame.focus(); } catch (e) { /* ignore */ }
    });
  }

  function close() {
    whenReady(function () {
      build();
      isOpen = false;
      if (panel) css(panel, { display: 'none' });
      bubble.innerHTML = ICON_CHAT;
      bubble.setAttribute('aria-label', 'Open support chat');
      bubble.setAttribute('aria-expanded', 'false');
      layoutPanel();
    });
  }

  function whenReady(fn) {
    if (document.body) fn();
    else document.addEventListener('DOMContentLoaded', fn);
  }

  document.addEventListener('keydown', function (ev) {
    if (isOpen && ev.key === 'Escape') close();
  });

  var api = { open: open, close: close };
  try { Object.defineProperty(api, '__loaded', { value: true }); } catch (e) { api.__loaded = true; }
  window.SupportHub = api;
  whenReady(build);
})();
