// onionswap dashboard: puts each page's live part in place as the server
// streams it (server-sent events). Pages work without it; this only keeps
// them current. No inline script anywhere (Content-Security-Policy).
(function () {
  'use strict';
  var body = document.body;
  var page = body.dataset.page;
  var live = document.getElementById('live');
  var state = document.getElementById('live-state');
  if (!page || !live || !window.EventSource) {
    if (state) state.textContent = 'live updates: off';
    return;
  }
  // What the user is doing inside the live part (ticked offers, the
  // focused control) survives a re-render.
  function snapshot(root) {
    var a = document.activeElement;
    var s = { focus: a && a.id && root.contains(a) ? a.id : '', inputs: {} };
    root.querySelectorAll('input[id], select[id], textarea[id]').forEach(function (el) {
      s.inputs[el.id] = (el.type === 'checkbox' || el.type === 'radio') ? el.checked : el.value;
    });
    return s;
  }
  function restore(root, s) {
    Object.keys(s.inputs).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || !root.contains(el)) return;
      if (el.type === 'checkbox' || el.type === 'radio') el.checked = s.inputs[id];
      else el.value = s.inputs[id];
    });
    if (s.focus) {
      var f = document.getElementById(s.focus);
      if (f) f.focus();
    }
  }
  var updates = 0;
  var es = new EventSource('/events/' + encodeURIComponent(page) + location.search);
  es.addEventListener('live', function (e) {
    var s = snapshot(live);
    live.innerHTML = e.data; // rendered and escaped by the server's templates
    restore(live, s);
    updates++;
    body.dataset.updates = String(updates);
    state.textContent = 'live updates: on, last ' + new Date().toLocaleTimeString();
  });
  es.addEventListener('logout', function () {
    es.close();
    location.href = '/login';
  });
  es.onopen = function () { state.textContent = 'live updates: on'; };
  es.onerror = function () {
    state.textContent = es.readyState === EventSource.CLOSED
      ? 'live updates: stopped (reload the page)'
      : 'live updates: reconnecting…';
  };
})();
