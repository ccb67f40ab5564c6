// The operators' dashboard: log-in, live snapshots over server-sent events, confirmed actions.
// Every string from the server reaches the DOM through textContent or an attribute, never as HTML.
'use strict';

(() => {
  const api_base = '/dashboard/api';
  const reconnect_min_ms = 1000;
  const reconnect_max_ms = 15000;
  const stale_after_ms = 5000;        // no snapshot for this long: the stream is dead, reconnect
  const ok_banner_hide_ms = 15000;
  const audit_rows_max = 200;
  const collapsed_storage_key = 'superapp.dashboard.collapsed';
  const viewer_title = 'Viewers cannot act: log in as an operator to use this';

  const state = {
    session: null,                    // {name, role, csrf}
    source: null,                     // the live EventSource
    reconnect_delay_ms: reconnect_min_ms,
    reconnect_timer: null,
    watchdog_timer: null,
    banner_timer: null,
    collapsed: load_collapsed(),      // "node|path" of subtrees the operator folded
    node_views: new Map(),            // node name -> view
    audit: new Map(),                 // entry key -> audit entry
    dialog_busy: false,
  };

  // ---- DOM helpers -------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el('td', {class: 'x', 'data-field': 'state', text: 'running'}, child...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svg_ns = 'http://www.w3.org/2000/svg';
  function svg_el(tag, attrs) {
    const node = document.createElementNS(svg_ns, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function set_text(node, text) {
    const s = text === null || text === undefined ? '' : String(text);
    if (node.textContent !== s) node.textContent = s;
  }

  function set_attr(node, name, value) {
    if (value === null || value === undefined || value === false) {
      if (node.hasAttribute(name)) node.removeAttribute(name);
      return;
    }
    const s = value === true ? '' : String(value);
    if (node.getAttribute(name) !== s) node.setAttribute(name, s);
  }

  // Keeps `node` at the position right after `previous` (or first) inside `parent`.
  function place(parent, node, previous) {
    const wanted = previous ? previous.nextSibling : parent.firstChild;
    if (wanted !== node) parent.insertBefore(node, wanted);
  }

  // ---- formatting --------------------------------------------------------------------------

  const is_num = (v) => typeof v === 'number' && Number.isFinite(v);

  function fmt_num(v, digits = 0) {
    if (!is_num(v)) return '—';
    return v.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }

  function fmt_short(v) {
    if (!is_num(v)) return '—';
    const a = Math.abs(v);
    if (a >= 100) return fmt_num(v, 0);
    if (a >= 10) return fmt_num(v, 1);
    return fmt_num(v, a === Math.trunc(a) ? 0 : 2);
  }

  function fmt_bytes(v) {
    if (!is_num(v)) return '—';
    if (v >= 1024 ** 3) return (v / 1024 ** 3).toFixed(2) + ' GiB';
    if (v >= 1024 ** 2) return (v / 1024 ** 2).toFixed(1) + ' MiB';
    if (v >= 1024) return (v / 1024).toFixed(1) + ' KiB';
    return v + ' B';
  }

  function fmt_duration_s(total) {
    if (!is_num(total)) return '—';
    let s = Math.max(0, Math.floor(total));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function fmt_period_ms(ms) {
    if (!is_num(ms)) return '?';
    return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
  }

  // "2026-12-03T11:00:00.123Z" -> "11:00:00" (with_date: "12-03 11:00:00")
  function fmt_clock(iso, with_date = false) {
    if (typeof iso !== 'string') return '';
    const t = new Date(iso);
    if (Number.isNaN(t.getTime())) return iso;
    const s = t.toISOString();
    return (with_date ? s.slice(5, 10) + ' ' : '') + s.slice(11, 19);
  }

  const last_of = (series) => (Array.isArray(series) && series.length ? series[series.length - 1] : null);

  // ---- API ---------------------------------------------------------------------------------

  // Resolves to {ok, status, data} or {ok:false, status, error:{code, message}}; never throws.
  async function call(method, route, body) {
    const headers = {Accept: 'application/json'};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrf;
    let res;
    try {
      res = await fetch(api_base + route, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      return {ok: false, status: 0,
              error: {code: 'unavailable', message: 'the node did not answer (' + e.message + ')'}};
    }
    let data = null;
    try { data = await res.json(); } catch { /* an empty or non-JSON body */ }
    if (res.ok) return {ok: true, status: res.status, data};
    const error = data && data.error && typeof data.error.code === 'string'
        ? {code: data.error.code, message: String(data.error.message ?? '')}
        : {code: 'http_' + res.status, message: res.statusText || 'request failed'};
    return {ok: false, status: res.status, error};
  }

  // ---- banner ------------------------------------------------------------------------------

  function show_banner(kind, text) {
    const banner = $('status-banner');
    clearTimeout(state.banner_timer);
    set_attr(banner, 'role', kind === 'error' ? 'alert' : 'status');
    set_attr(banner, 'aria-live', kind === 'error' ? 'assertive' : 'polite');
    banner.dataset.kind = kind;
    set_text($('status-text'), text);
    banner.hidden = false;
    if (kind === 'ok') state.banner_timer = setTimeout(hide_banner, ok_banner_hide_ms);
  }

  function hide_banner() {
    clearTimeout(state.banner_timer);
    $('status-banner').hidden = true;
  }

  // ---- session -----------------------------------------------------------------------------

  function show_login(error_text) {
    $('dashboard').hidden = true;
    $('who').hidden = true;
    $('connection').hidden = true;
    $('snapshot-at').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    set_text(err, error_text || '');
    err.hidden = !error_text;
    $('login-password').value = '';
    ($('login-name').value ? $('login-password') : $('login-name')).focus();
  }

  function start_session(session) {
    state.session = {name: String(session.name), role: String(session.role), csrf: String(session.csrf)};
    set_text($('who-name'), state.session.name);
    set_text($('who-role'), state.session.role);
    $('who-role').dataset.role = state.session.role;
    $('who').hidden = false;
    $('login').hidden = true;
    $('login-error').hidden = true;
    $('dashboard').hidden = false;
    $('connection').hidden = false;
    open_stream();
    load_audit();
  }

  function end_session(login_message) {
    close_stream();
    clearTimeout(state.reconnect_timer);
    state.reconnect_timer = null;
    state.session = null;
    // Nothing of the last session stays on the page.
    for (const view of state.node_views.values()) view.root.remove();
    state.node_views.clear();
    state.audit.clear();
    render_audit();
    if (state.dialog_busy) $('confirm-dialog').close('no');
    show_login(login_message);
  }

  async function on_login(event) {
    event.preventDefault();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    const submit = $('login-submit');
    submit.disabled = true;
    $('login-error').hidden = true;
    const r = await call('POST', '/login', {name, password});
    submit.disabled = false;
    if (r.ok) {
      hide_banner();
      start_session(r.data);
      return;
    }
    show_login(r.error.message || r.error.code);
    $('login-error').dataset.code = r.error.code;
  }

  async function on_logout() {
    const r = await call('POST', '/logout', {});
    if (!r.ok && r.status !== 401) {
      show_banner('error', `Log-out failed — ${r.error.code}: ${r.error.message}`);
      return;
    }
    end_session();
    show_banner('info', 'Logged out.');
  }

  // ---- live stream -------------------------------------------------------------------------

  function set_connection(what, text) {
    const c = $('connection');
    c.dataset.state = what;
    set_text(c, text || what);
  }

  function close_stream() {
    clearTimeout(state.watchdog_timer);
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function open_stream() {
    close_stream();
    set_connection('connecting');
    const source = new EventSource(api_base + '/stream');
    state.source = source;
    arm_watchdog();
    source.addEventListener('snapshot', (ev) => {
      if (state.source !== source) return;
      let snapshot;
      try { snapshot = JSON.parse(ev.data); } catch { return; }
      state.reconnect_delay_ms = reconnect_min_ms;
      set_connection('live');
      arm_watchdog();
      render(snapshot);
    });
    source.addEventListener('bye', (ev) => {
      if (state.source !== source) return;
      let reason = '';
      try { reason = JSON.parse(ev.data).reason; } catch { /* keep the default text */ }
      end_session(reason === 'expired' ? 'Your session expired; please log in again.'
                                       : 'You were logged out.');
    });
    // EventSource would retry on its own, but not after an HTTP error; do it ourselves, always.
    source.onerror = () => {
      if (state.source === source) schedule_reconnect();
    };
  }

  function arm_watchdog() {
    clearTimeout(state.watchdog_timer);
    state.watchdog_timer = setTimeout(() => {
      if (state.source) schedule_reconnect();
    }, stale_after_ms);
  }

  function schedule_reconnect() {
    close_stream();
    clearTimeout(state.reconnect_timer);
    const delay_ms = state.reconnect_delay_ms;
    state.reconnect_delay_ms = Math.min(state.reconnect_delay_ms * 2, reconnect_max_ms);
    set_connection('reconnecting', `reconnecting in ${Math.round(delay_ms / 1000)} s…`);
    for (const view of state.node_views.values()) view.root.classList.add('stale');
    state.reconnect_timer = setTimeout(async () => {
      state.reconnect_timer = null;
      if (!state.session) return;
      set_connection('reconnecting', 'reconnecting…');
      // Ask first whether the session still lives: a 401 means log in again, not retry forever.
      const r = await call('GET', '/session');
      if (!state.session) return;
      if (r.ok) {
        state.session.csrf = String(r.data.csrf);
        open_stream();
      } else if (r.status === 401) {
        end_session('Your session ended; please log in again.');
      } else {
        schedule_reconnect();
      }
    }, delay_ms + Math.floor(Math.random() * 250));
  }

  // ---- sparklines --------------------------------------------------------------------------

  function make_sparkline(label) {
    const root = svg_el('svg', {class: 'spark', viewBox: '0 0 120 28', preserveAspectRatio: 'none',
                                role: 'img'});
    const title = svg_el('title');
    const base = svg_el('path', {class: 'spark-base', d: 'M0 27L120 27', 'vector-effect': 'non-scaling-stroke'});
    const area = svg_el('path', {class: 'spark-area'});
    const line = svg_el('path', {class: 'spark-line', 'vector-effect': 'non-scaling-stroke'});
    root.append(title, base, area, line);
    return {root, title, area, line, label};
  }

  // Draws `values` (oldest first) right-aligned over a window of `window_n` points. Nulls are gaps,
  // unless `join_gaps` (latency: a second without requests has no latency, the line goes on).
  function draw_sparkline(spark, values, window_n, format, join_gaps = false) {
    const w = 120;
    const h = 28;
    const pad = 2;
    const series = Array.isArray(values) ? values : [];
    const n = Math.max(window_n || 0, series.length, 2);
    const numbers = series.filter(is_num);
    const max = numbers.length ? Math.max(...numbers) : 0;
    const top = max > 0 ? max : 1;
    const x = (i) => ((i + n - series.length) / (n - 1)) * w;
    const y = (v) => h - pad - (Math.max(0, v) / top) * (h - 2 * pad);
    let line = '';
    let area = '';
    let run = [];
    const flush = () => {
      if (!run.length) return;
      if (run.length === 1) run.unshift([Math.max(0, run[0][0] - 2), run[0][1]]);  // a lone point: a tick
      line += 'M' + run.map(([px, py]) => `${px.toFixed(1)} ${py.toFixed(1)}`).join('L');
      area += `M${run[0][0].toFixed(1)} ${h}` +
              run.map(([px, py]) => `L${px.toFixed(1)} ${py.toFixed(1)}`).join('') +
              `L${run[run.length - 1][0].toFixed(1)} ${h}Z`;
      run = [];
    };
    series.forEach((v, i) => {
      if (is_num(v)) run.push([x(i), y(v)]);
      else if (!join_gaps) flush();
    });
    flush();
    set_attr(spark.line, 'd', line);
    set_attr(spark.area, 'd', area);
    const text = numbers.length
        ? `${spark.label}: latest ${format(last_of(series))}, max ${format(max)} over the last ${series.length} s`
        : `${spark.label}: no data over the last ${series.length} s`;
    set_text(spark.title, text);
    set_attr(spark.root, 'aria-label', text);
  }

  // ---- actions -----------------------------------------------------------------------------

  const action_effects = {
    restart: 'Its supervisor stops it and starts it again (outside the restart intensity).',
    crash: 'It exits as if it threw; its supervisor restarts it under the normal restart policy ' +
           '(this counts towards the restart intensity).',
    crash_supervisor: 'It is killed with its whole subtree; its supervisor restarts it under the ' +
                      'normal restart policy (this counts towards the restart intensity).',
    restart_supervisor: 'Its supervisor stops it with its whole subtree and starts it again ' +
                        '(outside the restart intensity).',
    stop: 'The whole tree of this domain stops; its operations fail until it is started again.',
    start: 'The tree of this domain is started again.',
    drain: 'The node stops accepting new WebSocket sessions and reports not ready (/readyz 503); ' +
           'existing sessions go on.',
    undrain: 'The node accepts new WebSocket sessions again and reports ready.',
    reverse: 'The amount this transfer (or capture) moved goes back from its payee to its payer as ' +
             'a new transfer, if the payee still holds it. Asking again moves nothing.',
  };

  function describe_effect(req, kind) {
    if (kind === 'supervisor' && action_effects[req.action + '_supervisor']) {
      return action_effects[req.action + '_supervisor'];
    }
    if (req.action !== 'chaos') return action_effects[req.action] || '';
    if (req.mode === 'fail') return `The front door fails every operation with "unavailable" for ${req.duration_s} s.`;
    if (req.mode === 'delay') return `The front door answers each operation ${req.delay_ms} ms late for ${req.duration_s} s.`;
    return 'Chaos ends now; the front door answers normally.';
  }

  function action_label(req) {
    return req.action === 'chaos' ? `chaos ${req.mode}` : req.action;
  }

  // Our own modal: resolves to true only on "Confirm".
  function confirm_action(req, kind) {
    const dialog = $('confirm-dialog');
    if (state.dialog_busy) return Promise.resolve(false);
    state.dialog_busy = true;
    set_text($('confirm-title'), `Confirm: ${action_label(req)}`);
    set_text($('confirm-action'), action_label(req));
    set_text($('confirm-node'), req.node);
    set_text($('confirm-path'), req.path ?? '— (the whole node)');
    const params = Object.entries(req).filter(([k]) => !['action', 'node', 'path'].includes(k));
    set_text($('confirm-params'), params.map(([k, v]) => `${k}=${v}`).join(', '));
    $('confirm-params').hidden = $('confirm-params-label').hidden = params.length === 0;
    set_text($('confirm-warning'), describe_effect(req, kind));
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        state.dialog_busy = false;
        resolve(dialog.returnValue === 'yes');
      }, {once: true});
      dialog.showModal();
      dialog.querySelector('[data-confirm="no"]').focus();
    });
  }

  // `kind` (tree rows only) picks the words of the warning; the request is exactly `req`.
  async function run_action(req, kind) {
    if (!state.session) return;
    if (!(await confirm_action(req, kind))) return;
    const what = [action_label(req), req.path, 'on', req.node].filter(Boolean).join(' ');
    show_banner('info', `Sending ${what}…`);
    const r = await call('POST', '/action', req);
    if (r.ok) {
      const audit_id = r.data && r.data.audit_id !== undefined ? ` (audit #${r.data.audit_id})` : '';
      show_banner('ok', `${(r.data && r.data.message) || 'done'}${audit_id}`);
    } else {
      show_banner('error', `${what} refused — ${r.error.code}: ${r.error.message}`);
      $('status-banner').dataset.code = r.error.code;
      if (r.status === 401) {
        end_session('Your session ended; please log in again.');
        show_banner('error', `${what} refused — ${r.error.code}: ${r.error.message}`);
        return;
      }
    }
    load_audit();
  }

  function can_act() {
    return state.session !== null && state.session.role === 'operator';
  }

  function action_button(label, action, handler, cls) {
    const button = el('button', {type: 'button', class: cls || '', 'data-action': action, text: label,
                                 on: {click: handler}});
    if (!can_act()) {
      button.disabled = true;
      button.title = viewer_title;
    }
    return button;
  }

  // ---- tree --------------------------------------------------------------------------------

  const tree_columns = ['Actor', 'Kind', 'State', 'Restarts', 'Intensity', 'Last exit',
                        'Mailbox', 'Msg/s', 'Uptime', ''];

  function is_collapsed(node, path) {
    return state.collapsed.has(node + '|' + path);
  }

  function toggle_collapsed(view, path) {
    const key = view.name + '|' + path;
    if (state.collapsed.has(key)) state.collapsed.delete(key);
    else state.collapsed.add(key);
    save_collapsed();
    if (view.last && view.last.tree) render_tree(view, view.last.tree);
  }

  function load_collapsed() {
    try {
      const saved = JSON.parse(localStorage.getItem(collapsed_storage_key) || '[]');
      return new Set(Array.isArray(saved) ? saved.filter((s) => typeof s === 'string') : []);
    } catch {
      return new Set();
    }
  }

  function save_collapsed() {
    try { localStorage.setItem(collapsed_storage_key, JSON.stringify([...state.collapsed])); } catch { /* private mode */ }
  }

  function make_tree_row(view, path, depth) {
    const row = {};
    row.toggle = el('button', {type: 'button', class: 'toggle', 'aria-expanded': 'true',
                               on: {click: () => toggle_collapsed(view, path)}});
    row.name = el('span', {class: 'mono actor-name'});
    const actor = el('td', {class: 'actor', 'data-field': 'name'}, row.toggle, row.name);
    actor.style.setProperty('--depth', String(depth));
    row.kind = el('td', {class: 'kind', 'data-field': 'kind'});
    row.state = el('span', {class: 'badge'});
    row.cells = {
      restarts: el('td', {class: 'num', 'data-field': 'restarts'}),
      intensity: el('td', {class: 'num', 'data-field': 'intensity'}),
      last_exit_reason: el('td', {class: 'reason mono', 'data-field': 'last_exit_reason'}),
      mailbox_depth: el('td', {class: 'num', 'data-field': 'mailbox_depth'}),
      messages_per_s: el('td', {class: 'num', 'data-field': 'messages_per_s'}),
      uptime: el('td', {class: 'num', 'data-field': 'uptime'}),
    };
    const actions = el('td', {class: 'row-actions'});
    if (depth > 0) {
      actions.append(
          action_button('Restart', 'restart',
                        () => run_action({action: 'restart', node: view.name, path}, row.kind_name)),
          action_button('Crash', 'crash',
                        () => run_action({action: 'crash', node: view.name, path}, row.kind_name), 'danger'));
    }
    row.tr = el('tr', {'data-path': path},
                actor, row.kind, el('td', {'data-field': 'state'}, row.state),
                row.cells.restarts, row.cells.intensity, row.cells.last_exit_reason,
                row.cells.mailbox_depth, row.cells.messages_per_s, row.cells.uptime, actions);
    return row;
  }

  function update_tree_row(view, row, t, path) {
    const has_children = Array.isArray(t.children) && t.children.length > 0;
    const collapsed = has_children && is_collapsed(view.name, path);
    row.toggle.hidden = false;
    set_attr(row.toggle, 'data-empty', has_children ? null : true);
    row.toggle.disabled = !has_children;
    set_text(row.toggle, has_children ? (collapsed ? '▸' : '▾') : '');
    set_attr(row.toggle, 'aria-expanded', has_children ? String(!collapsed) : null);
    set_attr(row.toggle, 'aria-label', has_children ? `${collapsed ? 'Expand' : 'Collapse'} ${path}` : null);
    set_attr(row.toggle, 'tabindex', has_children ? null : '-1');
    set_text(row.name, t.name);
    set_attr(row.tr, 'data-kind', t.kind);
    set_attr(row.tr, 'data-state', t.state);

    const supervisor = t.kind === 'supervisor';
    const parts = [supervisor ? t.strategy || 'supervisor' : 'worker'];
    if (t.restart) parts.push(t.restart);
    if (supervisor && (t.strategy === 'simple_one_for_one' || t.dynamic_children > 0)) {
      parts.push(`${fmt_num(t.dynamic_children)} live`);
    }
    set_text(row.kind, parts.join(' · '));
    set_attr(row.kind, 'title', supervisor
        ? `supervisor, strategy ${t.strategy || '?'}${t.restart ? ', restart ' + t.restart : ''}`
        : `worker${t.restart ? ', restart ' + t.restart : ''}`);
    row.kind_name = t.kind;

    set_text(row.state, t.state || 'unknown');
    set_attr(row.state, 'data-state', t.state || 'unknown');
    set_text(row.cells.restarts, fmt_num(t.restarts));
    set_attr(row.cells.restarts, 'data-value', is_num(t.restarts) ? t.restarts : null);
    set_attr(row.cells.restarts, 'data-level', t.restarts > 0 ? 'warn' : null);

    const i = t.intensity;
    if (i && typeof i === 'object') {
      set_text(row.cells.intensity, `${fmt_num(i.used)}/${fmt_num(i.max)} per ${fmt_period_ms(i.period_ms)}`);
      set_attr(row.cells.intensity, 'data-level',
               i.used >= i.max && i.max > 0 ? 'danger' : i.used > 0 ? 'warn' : null);
      set_attr(row.cells.intensity, 'title',
               `${i.used} of at most ${i.max} restarts within ${fmt_period_ms(i.period_ms)}; ` +
               'past that the supervisor gives up and exits');
    } else {
      set_text(row.cells.intensity, '');
      set_attr(row.cells.intensity, 'data-level', null);
      set_attr(row.cells.intensity, 'title', null);
    }
    set_text(row.cells.last_exit_reason, t.last_exit_reason ?? '');
    set_attr(row.cells.last_exit_reason, 'title', t.last_exit_reason ?? null);
    set_text(row.cells.mailbox_depth, fmt_num(t.mailbox_depth));
    set_attr(row.cells.mailbox_depth, 'title', is_num(t.mailbox_depth) ? null : 'this actor does not answer probes');
    set_text(row.cells.messages_per_s, is_num(t.messages_per_s) ? fmt_short(t.messages_per_s) : '—');
    set_attr(row.cells.messages_per_s, 'title', is_num(t.messages)
      ? `${t.messages} messages since it (re)started`
      : (is_num(t.messages_per_s) ? null : 'no rate yet, or this actor does not count its messages'));
    set_text(row.cells.uptime, fmt_duration_s(is_num(t.uptime_ms) ? t.uptime_ms / 1000 : null));
  }

  function make_more_row() {
    const cell = el('td', {colspan: String(tree_columns.length), class: 'more'});
    return {tr: el('tr', {class: 'more-row'}, cell), cell};
  }

  function render_tree(view, tree) {
    const tbody = view.tree_body;
    const seen = new Set();
    let previous = null;
    const visit = (t, path, depth) => {
      if (!t || typeof t !== 'object') return;
      let row = view.rows.get(path);
      if (!row) {
        row = make_tree_row(view, path, depth);
        view.rows.set(path, row);
      }
      update_tree_row(view, row, t, path);
      place(tbody, row.tr, previous);
      previous = row.tr;
      seen.add(path);
      const children = Array.isArray(t.children) ? t.children : [];
      if (children.length && is_collapsed(view.name, path)) return;
      for (const child of children) visit(child, `${path}/${child.name}`, depth + 1);
      if (t.kind === 'supervisor' && (t.strategy === 'simple_one_for_one' || t.dynamic_children > 0)) {
        const key = path + '\u0000more';
        let more = view.rows.get(key);
        if (!more) {
          more = make_more_row();
          more.cell.style.setProperty('--depth', String(depth + 1));
          set_attr(more.tr, 'data-dynamic-for', path);
          view.rows.set(key, more);
        }
        set_text(more.cell, `${fmt_num(t.dynamic_children)} live children (showing worst ${children.length})`);
        place(tbody, more.tr, previous);
        previous = more.tr;
        seen.add(key);
      }
    };
    visit(tree, String(tree.name), 0);
    for (const [key, row] of view.rows) {
      if (!seen.has(key)) {
        row.tr.remove();
        view.rows.delete(key);
      }
    }
  }

  // ---- domains -----------------------------------------------------------------------------

  // [field, label, format, is latency]: a latency chart shows the last second that had requests.
  const domain_charts = [
    ['requests_per_s', 'Requests/s', fmt_short, false],
    ['errors_per_s', 'Errors/s', fmt_short, false],
    ['p50_ms', 'p50 latency', (v) => (is_num(v) ? fmt_short(v) + ' ms' : '—'), true],
    ['p99_ms', 'p99 latency', (v) => (is_num(v) ? fmt_short(v) + ' ms' : '—'), true],
  ];

  const last_number_of = (series) =>
      (Array.isArray(series) ? series.findLast(is_num) ?? null : null);

  function make_domain_card(view, name) {
    const path = `${view.root_name}/${name}`;
    const card = {charts: {}};
    card.state = el('span', {class: 'badge', 'data-field': 'state'});
    card.in_flight = el('span', {class: 'muted', 'data-field': 'in_flight'});
    card.chaos = el('span', {class: 'chaos-badge', 'data-field': 'chaos', hidden: true});
    const charts = el('div', {class: 'charts'});
    for (const [key, label, format, latency] of domain_charts) {
      const spark = make_sparkline(`${name} ${label}`);
      const value = el('span', {class: 'chart-value'});
      charts.append(el('div', {class: 'chart', 'data-chart': key},
                       el('div', {class: 'chart-head'}, el('span', {class: 'chart-label', text: label}), value),
                       spark.root));
      card.charts[key] = {spark, value, format, latency};
    }
    card.errors_body = el('tbody');
    card.errors_table = el('table', {class: 'grid errors', 'data-field': 'errors_by_code'},
                           el('thead', {}, el('tr', {}, el('th', {text: 'Error code'}),
                                                       el('th', {class: 'num', text: 'Count'}))),
                           card.errors_body);
    card.no_errors = el('p', {class: 'muted small', text: 'No errors in the window.'});

    const duration = el('input', {type: 'number', min: '1', max: '3600', step: '1', value: '30',
                                  'aria-label': `Chaos duration for ${name} in seconds`,
                                  'data-input': 'duration_s'});
    const delay = el('input', {type: 'number', min: '1', max: '30000', step: '1', value: '500',
                               'aria-label': `Chaos delay for ${name} in milliseconds`,
                               'data-input': 'delay_ms'});
    if (!can_act()) duration.disabled = delay.disabled = true;
    const read_int = (input, lo, hi, what) => {
      const v = Number(input.value);
      if (!Number.isInteger(v) || v < lo || v > hi) {
        show_banner('error', `${what} must be a whole number from ${lo} to ${hi}`);
        input.focus();
        return null;
      }
      return v;
    };
    const chaos = (mode) => () => {
      const req = {action: 'chaos', node: view.name, path, mode};
      if (mode !== 'off') {
        req.duration_s = read_int(duration, 1, 3600, 'Chaos duration (s)');
        if (req.duration_s === null) return;
      }
      if (mode === 'delay') {
        req.delay_ms = read_int(delay, 1, 30000, 'Chaos delay (ms)');
        if (req.delay_ms === null) return;
      }
      run_action(req);
    };
    const fail_button = action_button('Fail', 'chaos', chaos('fail'));
    fail_button.title ||= 'Fail every operation with "unavailable" for the duration';
    fail_button.dataset.mode = 'fail';
    const delay_button = action_button('Delay', 'chaos', chaos('delay'));
    delay_button.title ||= 'Answer each operation late by the delay, for the duration';
    delay_button.dataset.mode = 'delay';
    const off_button = action_button('Off', 'chaos', chaos('off'));
    off_button.title ||= 'End chaos now';
    off_button.dataset.mode = 'off';

    // Banking only: an operator's reversal of a posted transfer or a hold's capture.
    let reverse_controls = null;
    if (name === 'banking') {
      const transfer_id = el('input', {type: 'text', maxlength: '64', placeholder: 'transfer id (tr_…)',
                                       'aria-label': 'Transfer to reverse', 'data-input': 'transfer_id'});
      const reason = el('input', {type: 'text', maxlength: '500', placeholder: 'reason (audited)',
                                  'aria-label': 'Reason for the reversal', 'data-input': 'reason'});
      if (!can_act()) transfer_id.disabled = reason.disabled = true;
      const reverse_button = action_button('Reverse', 'reverse', () => {
        const req = {action: 'reverse', node: view.name, path,
                     transfer_id: transfer_id.value.trim(), reason: reason.value.trim()};
        if (!req.transfer_id) {
          show_banner('error', 'Give the id of the transfer to reverse');
          return transfer_id.focus();
        }
        if (!req.reason) {
          show_banner('error', 'Give a reason: it goes to the audit log');
          return reason.focus();
        }
        run_action(req);
      }, 'danger');
      reverse_button.title ||= 'Send a posted transfer back from its payee to its payer';
      reverse_controls = el('div', {class: 'domain-actions reverse-controls', role: 'group',
                                    'aria-label': 'Reverse a banking transfer'},
                            el('span', {class: 'muted', text: 'Reverse a transfer'}),
                            transfer_id, reason, reverse_button);
    }

    card.root = el('article', {class: 'domain', 'data-domain': name, 'data-path': path},
        el('header', {class: 'domain-head'},
           el('h4', {class: 'mono', text: name}), card.state, card.in_flight, card.chaos),
        charts,
        card.errors_table, card.no_errors,
        el('div', {class: 'domain-actions'},
           action_button('Stop', 'stop', () => run_action({action: 'stop', node: view.name, path}), 'danger'),
           action_button('Start', 'start', () => run_action({action: 'start', node: view.name, path})),
           el('span', {class: 'spacer'}),
           el('span', {class: 'chaos-controls', role: 'group', 'aria-label': `Chaos for ${name}`},
              el('span', {class: 'muted', text: 'Chaos'}),
              el('label', {}, duration, ' s'), fail_button,
              el('label', {}, delay, ' ms'), delay_button, off_button)));
    if (reverse_controls) card.root.append(reverse_controls);
    return card;
  }

  function update_domain_card(card, d, window_s) {
    set_text(card.state, d.state || 'unknown');
    set_attr(card.state, 'data-state', d.state || 'unknown');
    set_text(card.in_flight, `in flight: ${fmt_num(d.in_flight)}`);
    for (const [key] of domain_charts) {
      const chart = card.charts[key];
      draw_sparkline(chart.spark, d[key], window_s, chart.format, chart.latency);
      set_text(chart.value, chart.format(chart.latency ? last_number_of(d[key]) : last_of(d[key])));
    }
    const c = d.chaos;
    if (c && typeof c === 'object') {
      const until = c.until ? ` until ${fmt_clock(c.until)}` : '';
      set_text(card.chaos, c.mode === 'delay' ? `chaos: delay ${c.delay_ms} ms${until}` : `chaos: ${c.mode}${until}`);
      set_attr(card.chaos, 'data-mode', c.mode);
      card.chaos.hidden = false;
    } else {
      set_text(card.chaos, '');
      card.chaos.hidden = true;
    }
    const errors = Object.entries(d.errors_by_code && typeof d.errors_by_code === 'object' ? d.errors_by_code : {})
                       .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const key = JSON.stringify(errors);
    if (card.errors_key !== key) {
      card.errors_key = key;
      card.errors_body.replaceChildren(...errors.map(([code, count]) =>
          el('tr', {'data-code': code}, el('td', {class: 'mono', text: code}),
             el('td', {class: 'num', text: fmt_num(count)}))));
    }
    card.errors_table.hidden = errors.length === 0;
    card.no_errors.hidden = errors.length !== 0;
  }

  function render_domains(view, domains, window_s) {
    const seen = new Set();
    let previous = null;
    for (const d of Array.isArray(domains) ? domains : []) {
      const name = String(d.name);
      let card = view.domains.get(name);
      if (!card) {
        card = make_domain_card(view, name);
        view.domains.set(name, card);
      }
      update_domain_card(card, d, window_s);
      place(view.domain_grid, card.root, previous);
      previous = card.root;
      seen.add(name);
    }
    for (const [name, card] of view.domains) {
      if (!seen.has(name)) {
        card.root.remove();
        view.domains.delete(name);
      }
    }
    view.domains_empty.hidden = seen.size > 0;
  }

  // ---- node sections -----------------------------------------------------------------------

  function stat_tile(label, field) {
    const value = el('span', {class: 'stat-value', 'data-field': field});
    return {root: el('div', {class: 'stat'}, el('span', {class: 'stat-label', text: label}), value), value};
  }

  function make_node_view(name) {
    const view = {name, root_name: 'root', rows: new Map(), domains: new Map(), last: null};
    view.title = el('h2', {class: 'mono', text: name});
    view.draining = el('span', {class: 'badge', 'data-field': 'draining'});
    view.error = el('p', {class: 'node-error', role: 'alert', 'data-field': 'error', hidden: true});

    view.cpu = stat_tile('CPU', 'cpu_percent');
    view.cpu_spark = make_sparkline(`${name} CPU %`);
    view.cpu.root.append(view.cpu_spark.root);
    view.rss = stat_tile('Memory (RSS)', 'rss_bytes');
    view.rss_spark = make_sparkline(`${name} RSS`);
    view.rss.root.append(view.rss_spark.root);
    view.sessions = stat_tile('Open sessions', 'sessions');
    view.uptime = stat_tile('Uptime', 'uptime_s');

    view.tree_body = el('tbody');
    view.tree_stale = el('span', {class: 'badge', 'data-state': 'restarting', 'data-field': 'tree_stale',
                                  text: 'stale: the last probe of the tree did not answer', hidden: true});
    view.domain_grid = el('div', {class: 'domain-grid'});
    view.domains_empty = el('p', {class: 'muted', text: 'No domains reported.', hidden: true});
    view.bridge_body = el('tbody');
    view.bridge_empty = el('p', {class: 'muted', text: 'No bridge topics.', hidden: true});

    view.body = el('div', {class: 'node-body'},
        el('div', {class: 'stats'}, view.cpu.root, view.rss.root, view.sessions.root, view.uptime.root),
        el('section', {class: 'panel'},
           el('h3', {}, 'Supervision tree ', view.tree_stale),
           el('div', {class: 'tree-wrap'},
              el('table', {class: 'grid tree'},
                 el('thead', {}, el('tr', {}, ...tree_columns.map((c) => el('th', {text: c})))),
                 view.tree_body))),
        el('section', {class: 'panel'},
           el('h3', {text: 'Domains'}), view.domain_grid, view.domains_empty),
        el('section', {class: 'panel bridge'},
           el('h3', {text: 'Bridge lag per topic'}),
           el('table', {class: 'grid'},
              el('thead', {}, el('tr', {}, el('th', {text: 'Topic'}), el('th', {text: 'Source'}),
                                 el('th', {class: 'num', text: 'Lag'}), el('th', {class: 'num', text: 'Oldest'}))),
              view.bridge_body),
           view.bridge_empty));

    view.root = el('section', {class: 'node', 'data-node': name},
        el('header', {class: 'node-head'},
           view.title, view.draining,
           el('span', {class: 'spacer'}),
           action_button('Drain', 'drain', () => run_action({action: 'drain', node: name})),
           action_button('Undrain', 'undrain', () => run_action({action: 'undrain', node: name}))),
        view.error, view.body);
    return view;
  }

  function update_node_view(view, n, window_s) {
    view.last = n;
    view.root.classList.remove('stale');
    const reachable = n.reachable !== false;
    set_attr(view.root, 'data-reachable', String(reachable));
    view.error.hidden = reachable;
    view.body.hidden = !reachable;
    if (!reachable) {
      set_text(view.error, `Unreachable: ${n.error || 'the node did not answer'}`);
      set_text(view.draining, 'unreachable');
      set_attr(view.draining, 'data-state', 'failed');
      return;
    }
    set_text(view.draining, n.draining ? 'draining' : 'accepting sessions');
    set_attr(view.draining, 'data-state', n.draining ? 'draining' : 'running');

    const p = n.process || {};
    set_text(view.cpu.value, is_num(p.cpu_percent) ? fmt_num(p.cpu_percent, 1) + ' %' : '—');
    draw_sparkline(view.cpu_spark, p.cpu_percent_series, window_s, (v) => (is_num(v) ? fmt_num(v, 1) + ' %' : '—'));
    set_text(view.rss.value, fmt_bytes(p.rss_bytes));
    draw_sparkline(view.rss_spark, p.rss_bytes_series, window_s, fmt_bytes);
    set_text(view.sessions.value, fmt_num(p.sessions));
    set_text(view.uptime.value, fmt_duration_s(p.uptime_s));

    view.tree_stale.hidden = n.tree_stale !== true;
    if (n.tree && typeof n.tree === 'object') {
      view.root_name = String(n.tree.name);
      render_tree(view, n.tree);
    }
    render_domains(view, n.domains, window_s);

    const bridge = Array.isArray(n.bridge) ? n.bridge : [];
    const key = JSON.stringify(bridge);
    if (view.bridge_key !== key) {
      view.bridge_key = key;
      view.bridge_body.replaceChildren(...bridge.map((b) =>
          el('tr', {'data-topic': b.topic},
             el('td', {class: 'mono', text: b.topic}),
             el('td', {class: 'muted', 'data-field': 'source', text: b.source ?? ''}),
             el('td', {class: 'num', 'data-field': 'lag', 'data-level': b.lag > 0 ? 'warn' : null,
                       text: fmt_num(b.lag)}),
             el('td', {class: 'num', 'data-field': 'oldest_age_ms',
                       text: is_num(b.oldest_age_ms) && b.lag > 0 ? fmt_duration_s(b.oldest_age_ms / 1000) : '—'}))));
    }
    view.bridge_empty.hidden = bridge.length > 0;
  }

  function render(snapshot) {
    if (!state.session || !snapshot || !Array.isArray(snapshot.nodes)) return;
    const at = $('snapshot-at');
    set_text(at, `updated ${fmt_clock(snapshot.at)} UTC`);
    at.hidden = false;
    const container = $('nodes');
    const seen = new Set();
    let previous = null;
    for (const n of snapshot.nodes) {
      const name = String(n.node);
      let view = state.node_views.get(name);
      if (!view) {
        view = make_node_view(name);
        state.node_views.set(name, view);
      }
      update_node_view(view, n, snapshot.window_s);
      place(container, view.root, previous);
      previous = view.root;
      seen.add(name);
      if (Array.isArray(n.audit)) merge_audit(n.audit);
    }
    for (const [name, view] of state.node_views) {
      if (!seen.has(name)) {
        view.root.remove();
        state.node_views.delete(name);
      }
    }
    render_audit();
  }

  // ---- audit -------------------------------------------------------------------------------

  const audit_key = (e) => [e.id, e.at, e.node, e.operator, e.action, e.path].join('\u0000');

  function merge_audit(entries) {
    for (const e of entries) {
      if (e && typeof e === 'object') state.audit.set(audit_key(e), e);
    }
  }

  async function load_audit() {
    const r = await call('GET', '/audit?limit=100');
    if (!r.ok) return;  // the snapshots carry the newest entries anyway
    if (!state.session) return;
    merge_audit(Array.isArray(r.data && r.data.entries) ? r.data.entries : []);
    render_audit();
  }

  function render_audit() {
    const entries = [...state.audit.entries()].sort(([, a], [, b]) =>
        (a.at < b.at ? 1 : a.at > b.at ? -1 : (b.id ?? 0) - (a.id ?? 0)));
    for (const [key] of entries.slice(audit_rows_max)) state.audit.delete(key);
    const shown = entries.slice(0, audit_rows_max);
    const signature = shown.map(([key]) => key).join('\u0001');
    const tbody = $('audit-log').tBodies[0];
    if (tbody.dataset.signature === signature) return;
    tbody.dataset.signature = signature;
    tbody.replaceChildren(...shown.map(([, e]) => {
      const params = e.params && typeof e.params === 'object' ? Object.entries(e.params) : [];
      const action = el('td', {'data-field': 'action', 'data-value': e.action}, el('span', {class: 'mono', text: e.action}));
      if (params.length) {
        action.append(' ', el('span', {class: 'muted small', text: params.map(([k, v]) => `${k}=${v}`).join(' ')}));
      }
      return el('tr', {'data-audit-id': e.id},
                el('td', {class: 'mono', 'data-field': 'at', title: e.at, text: fmt_clock(e.at, true)}),
                el('td', {'data-field': 'operator'}, el('span', {class: 'mono', text: e.operator}),
                   ' ', el('span', {class: 'muted small', text: e.role})),
                action,
                el('td', {class: 'mono', 'data-field': 'node', text: e.node}),
                el('td', {class: 'mono', 'data-field': 'path', text: e.path ?? ''}),
                el('td', {'data-field': 'outcome'},
                   el('span', {class: 'badge', 'data-state': e.outcome, text: e.outcome})),
                el('td', {'data-field': 'message', text: e.message ?? ''}));
    }));
    $('audit-empty').hidden = shown.length > 0;
  }

  // ---- start -------------------------------------------------------------------------------

  async function main() {
    $('login-form').addEventListener('submit', on_login);
    $('logout-button').addEventListener('click', on_logout);
    $('status-close').addEventListener('click', hide_banner);
    // Cancel on Escape already closes the dialog with an empty returnValue: that means "no".
    const r = await call('GET', '/session');
    if (r.ok) start_session(r.data);
    else show_login();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
