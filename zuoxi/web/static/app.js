// Shared by the pages' scripts (loaded before them, all deferred).
window.zuoxi = {
  csrf: () => document.querySelector('meta[name=csrf-token]').content,
  // The JSON a template put in <script type="application/json" id="…"> (written by |tojson).
  data: id => JSON.parse(document.getElementById(id).textContent),
  esc: s => String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c])),
  post: (url, body) => fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': zuoxi.csrf()},
                                   body: JSON.stringify(body || {})}).then(r => r.json()),
};
