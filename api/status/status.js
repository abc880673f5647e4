// geodns status page: reads the REST API every few seconds and redraws.
// Plain DOM, no framework and nothing from other origins (the page is
// embedded in the binary and served under a strict CSP). Data from the
// API is only ever set as text, never parsed as HTML.
(() => {
  'use strict';

  const params = new URLSearchParams(location.search);
  // ?refresh=MS overrides the 2 s default, within sane bounds.
  const refreshMs = Math.min(Math.max(parseInt(params.get('refresh'), 10) || 2000, 250), 60000);
  // Checks drawn in a region's sparkline.
  const historyLen = 30;
  // Services are refetched at least this often; sooner when the default
  // strategy or the zones change.
  const servicesMaxAge = 10000;
  const tokenKey = 'geodns-api-token';

  const $ = (id) => document.getElementById(id);
  const svgNS = 'http://www.w3.org/2000/svg';

  let token = sessionStorage.getItem(tokenKey) || '';
  let timer = 0;
  let inFlight = false;
  let retrySoon = false; // a token was entered while a refresh ran
  let lastUpdate = '';
  let lastStats = null; // {n, t}: the previous queries_total reading
  const histories = new Map(); // region -> {lastCheck, results (oldest first)}
  const rows = new Map(); // region -> <tr>
  let services = {key: '', at: 0, list: []};

  class AuthError extends Error {}

  async function get(path) {
    const headers = {Accept: 'application/json'};
    if (token) headers.Authorization = 'Bearer ' + token;
    const ctl = new AbortController();
    const cancel = setTimeout(() => ctl.abort(), Math.max(2 * refreshMs, 5000));
    try {
      const res = await fetch(path, {headers, signal: ctl.signal, cache: 'no-store'});
      const body = await res.json().catch(() => null);
      if (res.status === 401) throw new AuthError(token ? 'API token rejected' : 'API token required');
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${(body && body.error) || res.statusText}`);
      return body;
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`GET ${path}: no answer`);
      throw e;
    } finally {
      clearTimeout(cancel);
    }
  }

  // optional answers null when the call fails for any reason but a
  // missing token, so that one missing part does not blank the page.
  function optional(p) {
    return p.catch((e) => {
      if (e instanceof AuthError) throw e;
      return null;
    });
  }

  async function refresh() {
    clearTimeout(timer);
    inFlight = true;
    let poll = true;
    try {
      const [status, stats] = await Promise.all([get('/api/v1/lb/status'), optional(get('/api/v1/stats'))]);
      await Promise.all([loadHistories(status.regions), loadServices(status)]);
      render(status, stats);
      setConn('ok', '');
      lastUpdate = new Date().toLocaleTimeString();
      $('updated').textContent = lastUpdate;
    } catch (e) {
      if (e instanceof AuthError) {
        // Polling resumes once a token is entered.
        poll = false;
        askToken(e.message);
      } else {
        const since = lastUpdate ? ` Showing data from ${lastUpdate}.` : '';
        setConn('error', `Cannot read the API: ${e.message}.${since}`);
      }
    } finally {
      inFlight = false;
    }
    if (poll || retrySoon) timer = setTimeout(refresh, poll ? refreshMs : 0);
    retrySoon = false;
  }

  // loadHistories fetches the check history of regions checked since
  // the last fetch: a new last_check is the only thing that changes it.
  async function loadHistories(regions) {
    const names = new Set(regions.map((r) => r.region));
    for (const name of histories.keys()) {
      if (!names.has(name)) histories.delete(name);
    }
    await Promise.all(regions.map(async (r) => {
      const lastCheck = r.health.last_check || '';
      const h = histories.get(r.region);
      if (!lastCheck || (h && h.lastCheck === lastCheck)) return;
      const q = new URLSearchParams({region: r.region, limit: String(historyLen)});
      const body = await optional(get('/api/v1/lb/health/history?' + q));
      if (body) histories.set(r.region, {lastCheck, results: body.results.slice().reverse()});
    }));
  }

  async function loadServices(status) {
    const key = status.strategy + '|' + status.zones.join(',');
    if (key === services.key && Date.now() - services.at < servicesMaxAge) return;
    const zones = await Promise.all(status.zones.map((z) => optional(get('/api/v1/lb/zones/' + encodeURIComponent(z)))));
    const list = [];
    for (const z of zones) {
      if (z) list.push(...z.services);
    }
    services = {key, at: Date.now(), list};
  }

  function render(status, stats) {
    $('node').textContent = status.node_id;
    $('version').textContent = status.version || '';
    $('strategy').textContent = status.strategy + (status.strategy_source === 'api' ? ' (set through the API)' : '');
    $('in-answers').textContent = `${status.regions_in_answers} of ${status.regions.length}`;
    $('failover-enabled').textContent = status.failover_enabled ? 'on' : 'off (health ignored)';
    $('uptime').textContent = duration(status.uptime_seconds);
    renderQueries(stats);
    renderRegions(status.regions);
    renderFailovers(status.failover);
    renderServices();
  }

  function renderQueries(stats) {
    const qps = $('qps');
    if (!stats) {
      qps.textContent = $('queries-total').textContent = 'n/a';
      delete qps.dataset.value;
      delete $('queries-total').dataset.value;
      lastStats = null;
      return;
    }
    const now = {n: stats.queries_total, t: Date.parse(stats.time)};
    $('queries-total').textContent = now.n.toLocaleString();
    $('queries-total').dataset.value = String(now.n);
    // A counter that went back means the server restarted: start over.
    if (lastStats && now.t > lastStats.t && now.n >= lastStats.n) {
      const v = (now.n - lastStats.n) / ((now.t - lastStats.t) / 1000);
      qps.textContent = v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString();
      qps.dataset.value = String(v);
    }
    if (!lastStats || now.t > lastStats.t) lastStats = now;
  }

  // regionState is the row's data-state: drained (forced down) wins,
  // then the checks' verdict; stale marks an up region whose checks have
  // stopped reporting.
  function regionState(r) {
    if (r.admin_state === 'force-down') return 'drained';
    if (r.health.status === 'pending' || r.health.status === 'down') return r.health.status;
    return r.health.stale ? 'stale' : 'up';
  }

  function renderRegions(regions) {
    const tbody = $('regions').tBodies[0];
    const seen = new Set();
    for (const r of regions) {
      seen.add(r.region);
      let tr = rows.get(r.region);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.region = r.region;
        for (let i = 0; i < 8; i++) tr.insertCell();
        rows.set(r.region, tr);
      }
      const state = regionState(r);
      tr.dataset.state = state;
      tr.className = 'region state-' + state;
      const c = tr.cells;

      c[0].replaceChildren(text('strong', r.region), text('div', r.endpoint, 'muted small'));

      const notes = [];
      if (r.admin_state === 'force-up') notes.push('forced up');
      if (r.health.stale && state !== 'stale') notes.push('stale');
      const badge = text('span', state, 'badge');
      badge.title = r.health.reason || '';
      c[1].replaceChildren(badge, notes.length ? text('div', notes.join(', '), 'muted small') : '');

      c[2].textContent = String(r.weight);
      c[2].className = 'num';
      c[3].textContent = r.health.status === 'pending' ? '–' : r.health.latency_ms.toFixed(2) + ' ms';
      c[3].className = 'num';
      c[4].replaceChildren(sparkline(histories.get(r.region)));

      const answers = r.in_answers ? 'yes' : 'no' + (r.reason ? ': ' + r.reason : '');
      c[5].replaceChildren(text('span', answers), r.failover_to ? text('div', '→ ' + r.failover_to, 'small') : '');
      c[6].textContent = r.services.join(', ');
      c[6].className = 'small';
      const last = r.health.last_check ? new Date(r.health.last_check).toLocaleTimeString() : '–';
      const fails = r.health.consecutive_failures ? `${r.health.consecutive_failures} failed in a row` : '';
      c[7].replaceChildren(text('span', last), fails ? text('div', fails, 'small') : '');
      // Appending in the API's order keeps the rows sorted as it sorts them.
      tbody.append(tr);
    }
    for (const [name, tr] of rows) {
      if (!seen.has(name)) {
        tr.remove();
        rows.delete(name);
      }
    }
  }

  // sparkline draws check latencies oldest to newest, the newest at the
  // right edge, with failed checks as red marks on the baseline.
  function sparkline(h) {
    const w = 120, ht = 28, pad = 3;
    const svg = document.createElementNS(svgNS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', w);
    svg.setAttribute('height', ht);
    svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
    svg.setAttribute('role', 'img');
    const results = h ? h.results : [];
    const title = document.createElementNS(svgNS, 'title');
    svg.append(title);
    if (!results.length) {
      title.textContent = 'not checked yet';
      return svg;
    }
    const ok = results.filter((r) => r.ok);
    const maxMs = Math.max(...ok.map((r) => r.latency_ms), 0.001);
    const step = (w - 2 * pad) / (historyLen - 1);
    const x0 = w - pad - (results.length - 1) * step;
    const y = (ms) => ht - pad - (ms / maxMs) * (ht - 2 * pad);
    const points = [];
    results.forEach((r, i) => {
      const x = x0 + i * step;
      if (r.ok) {
        points.push(`${x.toFixed(1)},${y(r.latency_ms).toFixed(1)}`);
        return;
      }
      const mark = document.createElementNS(svgNS, 'rect');
      mark.setAttribute('class', 'fail');
      mark.setAttribute('x', (x - 1.5).toFixed(1));
      mark.setAttribute('y', ht - pad - 6);
      mark.setAttribute('width', 3);
      mark.setAttribute('height', 6);
      svg.append(mark);
    });
    if (points.length) {
      const line = document.createElementNS(svgNS, 'polyline');
      line.setAttribute('points', points.join(' '));
      svg.append(line);
    }
    const failed = results.length - ok.length;
    title.textContent = `last ${results.length} checks: ${failed} failed` +
      (ok.length ? `, latency up to ${maxMs.toFixed(2)} ms` : '');
    svg.dataset.checks = String(results.length);
    svg.dataset.failed = String(failed);
    return svg;
  }

  function renderFailovers(f) {
    const items = [];
    for (const m of f.manual) {
      const li = text('li', `${m.from_region} → ${m.to_region} (manual, since ${when(m.since)})` + (m.reason ? ': ' + m.reason : ''));
      li.dataset.failover = 'manual';
      li.dataset.region = m.from_region;
      items.push(li);
    }
    for (const a of f.automatic) {
      const li = text('li', `${a.region} out of answers` + (a.since ? ` since ${when(a.since)}` : '') + ': ' + a.reason);
      li.dataset.failover = 'automatic';
      li.dataset.region = a.region;
      items.push(li);
    }
    $('failovers').replaceChildren(...(items.length ? items : [text('li', 'none', 'muted')]));
  }

  function renderServices() {
    const trs = services.list.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.service = s.name;
      tr.dataset.strategy = s.effective_strategy;
      const strategy = s.effective_strategy + (s.strategy ? '' : ' (default)');
      const regions = s.all_regions ? 'every region' : s.regions.join(', ');
      for (const [v, cls] of [[s.name, ''], [strategy, ''], [regions, 'small'], [String(s.answers), 'num'], [s.ttl + ' s', 'num']]) {
        const td = tr.insertCell();
        td.textContent = v;
        td.className = cls;
      }
      return tr;
    });
    $('services').tBodies[0].replaceChildren(...trs);
  }

  function setConn(state, msg) {
    const conn = $('conn');
    conn.dataset.conn = state;
    conn.textContent = msg;
    conn.hidden = state === 'ok';
    document.body.classList.toggle('disconnected', state === 'error');
  }

  function askToken(msg) {
    $('auth-message').textContent = msg;
    $('auth').hidden = false;
    setConn('auth', msg);
    $('token').focus();
  }

  $('auth').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(tokenKey, token);
    $('auth').hidden = true;
    setConn('loading', 'loading…');
    if (inFlight) retrySoon = true;
    else refresh();
  });

  function text(tag, s, cls) {
    const el = document.createElement(tag);
    el.textContent = s;
    if (cls) el.className = cls;
    return el;
  }

  function when(t) {
    return new Date(t).toLocaleString();
  }

  function duration(s) {
    const parts = [[86400, 'd'], [3600, 'h'], [60, 'm']];
    let out = '';
    for (const [n, unit] of parts) {
      if (s >= n || out) {
        out += Math.floor(s / n) + unit + ' ';
        s %= n;
      }
    }
    return out + s + 's';
  }

  $('refresh').textContent = refreshMs >= 1000 ? refreshMs / 1000 + ' s' : refreshMs + ' ms';
  refresh();
})();
