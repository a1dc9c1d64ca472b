// SD-Box ops dashboard. No framework and nothing from outside the broker: the page reads
// GET /api/v1/whoami once, then the whole state from the server-sent events at /api/v1/events
// (event "state", {"sessions","boxes","alerts"}) and re-renders on every event. Values from the
// store are only ever written with textContent.
'use strict';

(() => {
  const END_REASON = 'ended from the ops dashboard';
  const ROLES_THAT_END_SESSIONS = new Set(['admin', 'ops']);
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 30000;

  const view = {
    me: null,              // {name, role} once whoami answered
    state: null,           // last {sessions, boxes, alerts}
    confirming: new Set(), // session ids whose inline confirmation is open
    ending: new Set(),     // session ids with an end request under way
  };

  // ---- small DOM helpers -------------------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  function el(tag, attributes = {}, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cell(field, text, attributes = {}) {
    return el('td', {'data-field': field, ...attributes}, text === undefined || text === null || text === '' ? '—' : text);
  }

  function badge(text, kind) {
    return el('span', {class: `badge badge-${kind}`}, text);
  }

  // "2026-11-23T08:30:00Z" -> "2026-11-23 08:30:00"; anything else is shown as it came.
  function formatTime(value) {
    if (typeof value !== 'string' || value === '') return '—';
    const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(value);
    return match ? `${match[1]} ${match[2]}` : value;
  }

  function timeCell(field, value) {
    const td = el('td', {'data-field': field});
    if (typeof value === 'string' && value !== '') {
      td.append(el('time', {datetime: value}, formatTime(value)));
    } else {
      td.textContent = '—';
    }
    return td;
  }

  function elapsedText(value) {
    const start = Date.parse(value);
    if (Number.isNaN(start)) return '';
    let seconds = Math.max(0, Math.floor((Date.now() - start) / 1000));
    const days = Math.floor(seconds / 86400);
    seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days > 0) return `${days} d ${hours} h`;
    if (hours > 0) return `${hours} h ${minutes} min`;
    return `${minutes} min`;
  }

  function refreshElapsed() {
    for (const span of document.querySelectorAll('[data-elapsed-from]')) {
      span.textContent = elapsedText(span.getAttribute('data-elapsed-from'));
    }
  }

  // ---- messages ----------------------------------------------------------------------------

  function showMessage(kind, text, detail) {
    const area = $('[data-testid="messages"]');
    const message = el('div', {class: `message message-${kind}`, 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status'});
    message.append(el('span', {class: 'message-text'}, text));
    if (detail) message.append(el('span', {class: 'message-detail'}, ` (${detail})`));
    const close = el('button', {type: 'button', class: 'message-close', 'data-action': 'dismiss-message', 'aria-label': 'Dismiss message'}, '×');
    close.addEventListener('click', () => {
      message.remove();
      area.hidden = area.childElementCount === 0;
    });
    message.append(close);
    area.append(message);
    while (area.childElementCount > 5) area.firstElementChild.remove();
    area.hidden = false;
    if (kind !== 'error') {
      setTimeout(() => {
        message.remove();
        area.hidden = area.childElementCount === 0;
      }, 8000);
    }
  }

  // Reads an answer of the API; on an error answer throws an Error carrying reason and message.
  async function readAnswer(response) {
    const type = response.headers.get('Content-Type') || '';
    let body = null;
    if (type.includes('application/json')) {
      try {
        body = await response.json();
      } catch {
        body = null;
      }
    }
    if (response.ok) return body;
    const problem = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : {};
    const error = new Error(typeof problem.message === 'string' && problem.message !== '' ? problem.message : `The broker answered ${response.status} ${response.statusText}`.trim());
    error.reason = typeof problem.reason === 'string' ? problem.reason : `http_${response.status}`;
    throw error;
  }

  async function api(method, path, body) {
    const init = {method, credentials: 'same-origin', cache: 'no-store', headers: {Accept: 'application/json'}};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (cause) {
      const error = new Error('The broker could not be reached.');
      error.reason = 'network';
      error.cause = cause;
      throw error;
    }
    return readAnswer(response);
  }

  // ---- who is signed in --------------------------------------------------------------------

  function canEndSessions() {
    return view.me !== null && ROLES_THAT_END_SESSIONS.has(view.me.role);
  }

  async function loadWhoami() {
    try {
      const me = await api('GET', '/api/v1/whoami');
      if (!me || typeof me.name !== 'string' || typeof me.role !== 'string') throw Object.assign(new Error('The broker sent an unexpected answer to whoami.'), {reason: 'bad_answer'});
      view.me = {name: me.name, role: me.role};
      const who = $('[data-testid="whoami"]');
      who.textContent = me.name;
      who.setAttribute('data-role', me.role);
      $('[data-testid="whoami-role"]').textContent = me.role;
      render();
    } catch (error) {
      $('[data-testid="whoami"]').textContent = 'unknown';
      showMessage('error', `Could not tell who is signed in: ${error.message}`, error.reason);
    }
  }

  // ---- rendering ---------------------------------------------------------------------------

  function list(value) {
    return Array.isArray(value) ? value : [];
  }

  function replaceRows(tbody, rows, columns, emptyText) {
    if (rows.length === 0) {
      const tr = el('tr', {class: 'empty'});
      tr.append(el('td', {colspan: columns}, emptyText));
      rows = [tr];
    }
    tbody.replaceChildren(...rows);
  }

  function sessionActions(session) {
    const id = String(session.id);
    const td = el('td', {'data-field': 'actions', class: 'actions'});
    if (view.ending.has(id)) {
      td.append(el('span', {class: 'pending'}, 'Ending…'));
    } else if (view.confirming.has(id)) {
      const box = el('div', {class: 'confirm', role: 'group', 'aria-label': `Confirm ending the session of ${session.user}`});
      box.append(el('span', {class: 'confirm-text'}, 'End this session?'));
      const yes = el('button', {type: 'button', class: 'button button-danger', 'data-action': 'confirm-end', 'data-session-id': id}, 'End now');
      const no = el('button', {type: 'button', class: 'button', 'data-action': 'cancel-end', 'data-session-id': id}, 'Cancel');
      yes.addEventListener('click', () => endSession(id));
      no.addEventListener('click', () => {
        view.confirming.delete(id);
        render();
        focusAction('end-session', id);
      });
      box.append(yes, no);
      td.append(box);
    } else {
      const button = el('button', {type: 'button', class: 'button', 'data-action': 'end-session', 'data-session-id': id,
        'aria-label': `End the session of ${session.user} on ${session.box}`}, 'End session');
      button.addEventListener('click', () => {
        view.confirming.add(id);
        render();
        focusAction('confirm-end', id);
      });
      td.append(button);
    }
    return td;
  }

  function renderSessions(sessions) {
    const actions = canEndSessions();
    for (const th of document.querySelectorAll('[data-testid="sessions"] [data-col="actions"]')) th.hidden = !actions;
    const ids = new Set(sessions.map((s) => String(s.id)));
    for (const id of [...view.confirming]) if (!ids.has(id)) view.confirming.delete(id);
    for (const id of [...view.ending]) if (!ids.has(id)) view.ending.delete(id);

    const rows = sessions.map((session) => {
      const id = String(session.id);
      const tr = el('tr', {'data-session-id': id, 'data-state': session.state});
      const connected = session.state === 'connected';
      const stateCell = el('td', {'data-field': 'state'});
      stateCell.append(badge(connected ? 'connected' : (session.state || 'unknown'), connected ? 'ok' : 'warn'));
      const since = timeCell('since', session.since);
      if (typeof session.since === 'string' && session.since !== '') {
        since.append(el('span', {class: 'elapsed', 'data-elapsed-from': session.since}, elapsedText(session.since)));
      }
      if (typeof session.connected_since === 'string' && session.connected_since !== '') {
        since.setAttribute('title', `connected since ${formatTime(session.connected_since)} UTC`);
      }
      tr.append(cell('user', session.user), cell('box', session.box), cell('site', session.site),
        cell('project', session.project), stateCell, since);
      if (actions) tr.append(sessionActions(session));
      return tr;
    });
    replaceRows($('[data-testid="sessions"] tbody'), rows, actions ? 7 : 6, 'No live sessions.');
    $('[data-testid="sessions-count"]').textContent = `(${sessions.length})`;
  }

  function renderBoxes(boxes) {
    const rows = boxes.map((box) => {
      const tr = el('tr', {'data-box-name': box.name, 'data-online': box.online ? 'true' : 'false'});
      const tunnel = el('td', {'data-field': 'online'});
      tunnel.append(box.online ? badge('online', 'ok') : badge('offline', 'muted'));
      const state = el('td', {'data-field': 'state'});
      state.append(badge(box.state || 'unknown', box.state === 'active' ? 'plain' : 'warn'));
      if (typeof box.state_reason === 'string' && box.state_reason !== '') {
        state.append(el('span', {class: 'reason'}, box.state_reason));
      }
      tr.append(cell('name', box.name), cell('site', box.site), tunnel, timeCell('last_seen', box.last_seen), state);
      return tr;
    });
    replaceRows($('[data-testid="boxes"] tbody'), rows, 5, 'No boxes.');
    $('[data-testid="boxes-count"]').textContent = `(${boxes.length})`;
  }

  function renderAlerts(alerts) {
    const newestFirst = [...alerts].sort((a, b) => String(b.at || '').localeCompare(String(a.at || '')));
    const rows = newestFirst.map((alert) => {
      const tr = el('tr', {'data-alert-id': alert.id, 'data-kind': alert.kind});
      const kind = el('td', {'data-field': 'kind'});
      kind.append(badge(alert.kind || 'unknown', 'alert'));
      tr.append(kind, timeCell('at', alert.at), cell('subject', alert.subject), cell('message', alert.message, {class: 'wrap'}));
      return tr;
    });
    replaceRows($('[data-testid="alerts"] tbody'), rows, 4, 'No alerts.');
    $('[data-testid="alerts-count"]').textContent = `(${alerts.length})`;
  }

  function render() {
    if (view.state === null) return;
    // Keep the keyboard focus on the same control across a re-render.
    const focused = document.activeElement;
    const focusKey = focused && focused.dataset && focused.dataset.action && focused.dataset.sessionId
      ? [focused.dataset.action, focused.dataset.sessionId] : null;
    renderSessions(list(view.state.sessions));
    renderBoxes(list(view.state.boxes));
    renderAlerts(list(view.state.alerts));
    if (focusKey) focusAction(...focusKey);
  }

  function focusAction(action, id) {
    const target = document.querySelector(`[data-testid="sessions"] button[data-action="${action}"][data-session-id="${CSS.escape(id)}"]`);
    if (target) target.focus();
  }

  // ---- ending a session --------------------------------------------------------------------

  async function endSession(id) {
    view.confirming.delete(id);
    view.ending.add(id);
    render();
    try {
      await api('POST', `/api/v1/sessions/${encodeURIComponent(id)}/end`, {reason: END_REASON});
      showMessage('info', `Session ${id} was ended.`);
      // The row goes away with the next state event.
    } catch (error) {
      view.ending.delete(id);
      render();
      showMessage('error', `Could not end session ${id}: ${error.message}`, error.reason);
    }
  }

  // ---- live updates ------------------------------------------------------------------------

  let source = null;
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;

  function setLive(state) {
    const status = $('[data-testid="live-status"]');
    status.textContent = state;
    status.setAttribute('data-state', state);
    document.body.setAttribute('data-live', state);
  }

  function connect() {
    retryTimer = null;
    source = new EventSource('/api/v1/events');
    source.addEventListener('state', (event) => {
      let state;
      try {
        state = JSON.parse(event.data);
      } catch {
        showMessage('error', 'The broker sent a state update that is not JSON.', 'bad_event');
        return;
      }
      if (!state || typeof state !== 'object') return;
      view.state = state;
      retryMs = RETRY_MIN_MS;
      setLive('live');
      render();
    });
    source.addEventListener('error', () => {
      setLive('reconnecting');
      // The browser retries by itself while the connection is CONNECTING; a refused answer
      // (not text/event-stream, an HTTP error) closes it for good, so start a new one later.
      if (source.readyState === EventSource.CLOSED && retryTimer === null) {
        source.close();
        retryTimer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    });
  }

  function start() {
    setLive('connecting');
    loadWhoami();
    connect();
    setInterval(refreshElapsed, 30000);
    window.addEventListener('pagehide', () => {
      if (source) source.close();
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
