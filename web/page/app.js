// gtmd's web page: every balancer's state at a glance, what it means, and safe actions on it.
//
// Everything shown comes from /api/v1 with the token the user entered (kept in this tab's
// session storage, sent as a bearer header: a cross-site form cannot act). Every value from the
// API becomes text through textContent or an attribute — never markup — and the server's
// Content-Security-Policy allows no inline script or style. The page polls every 2 s and says
// so plainly when it has lost gtmd, rather than showing old state as current.
'use strict';

(() => {
    const POLL_MS = 2000;
    const TIMEOUT_MS = 8000;
    const EVENTS_KEPT = 5000;
    const EVENTS_SHOWN = 200;
    const TOKEN_KEY = 'gtmd.token';
    const ROLES = { viewer: 0, operator: 1, admin: 2 };
    const ADMIN_STATES = ['auto', 'up', 'drain', 'down'];
    const EVENT_TYPES = ['verdict', 'tier', 'all_down', 'isolation', 'admin', 'config', 'alert'];

    // ---------------------------------------------------------------------------------------
    // DOM: data only ever becomes text.

    function h(tag, props, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(props || {})) {
            if (v === undefined || v === null || v === false) {
                continue;
            }
            if (k === 'class') {
                e.className = v;
            } else if (k === 'text') {
                e.textContent = String(v);
            } else if (k.startsWith('on')) {
                e.addEventListener(k.slice(2), v);
            } else if (k === 'key') {
                e.dataset.key = v;
            } else {
                e.setAttribute(k, v === true ? '' : String(v));
            }
        }
        add(e, children);
        return e;
    }

    function add(e, children) {
        for (const c of children.flat(Infinity)) {
            if (c === null || c === undefined || c === false) {
                continue;
            }
            e.append(c instanceof Node ? c : document.createTextNode(String(c)));
        }
        return e;
    }

    // Replaces an element's children with `children` (nodes, text, nested arrays).
    const fill = (e, ...children) => {
        e.replaceChildren();
        return add(e, children);
    };

    const $ = (id) => document.getElementById(id);

    // Replaces a container's children when what it shows changed, keeping the keyboard focus
    // on the element with the same data-key.
    function swap(container, signature, build) {
        if (container.dataset.sig === signature) {
            return;
        }
        const active = document.activeElement;
        const key = active && container.contains(active) ? active.dataset.key : undefined;
        container.replaceChildren(...[build()].flat(Infinity).filter(Boolean));
        container.dataset.sig = signature;
        if (key !== undefined) {
            const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
            if (again) {
                again.focus();
            }
        }
    }

    // A state as an icon and a word: colour is never the only signal.
    function badge(kind, word, title) {
        const icons = {
            up: '✔', ok: '✔', normal: '✔', serving: '✔', down: '✖', bad: '✖', unknown: '?',
            warn: '⚠', degraded: '⚠', drain: '‖', off: '⊘', info: 'ℹ', held: '‖',
        };
        return h('span', { class: `badge b-${kind}`, title },
            h('span', { class: 'icon', 'aria-hidden': 'true', text: icons[kind] || '•' }), ` ${word}`);
    }

    const pct = (x) => `${(Math.round((x || 0) * 1000) / 10).toLocaleString(undefined, { maximumFractionDigits: 1 })} %`;

    function shareBar(x) {
        const bar = h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span'));
        bar.firstChild.style.width = `${Math.max(0, Math.min(100, (x || 0) * 100))}%`;
        return h('span', { class: 'share' }, bar, h('span', { class: 'num', text: pct(x) }));
    }

    const timeFormat = new Intl.DateTimeFormat(undefined, {
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
        second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    });
    const clockFormat = new Intl.DateTimeFormat(undefined, {
        hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
    const localTime = (ms) => timeFormat.format(new Date(ms));
    const clock = (ms) => clockFormat.format(new Date(ms));
    function timeEl(ms, short) {
        return h('time', { datetime: new Date(ms).toISOString(), title: localTime(ms) },
            short ? clock(ms) : localTime(ms));
    }

    // ---------------------------------------------------------------------------------------
    // The API.

    class ApiError extends Error {
        constructor(status, message, field) {
            super(message);
            this.status = status;
            this.field = field;
        }
    }

    let token = null;

    async function call(method, path, body) {
        const headers = { Accept: 'application/json', Authorization: `Bearer ${token}` };
        const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        const abort = new AbortController();
        init.signal = abort.signal;
        const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
        let res;
        let data = null;
        try {
            res = await fetch(path, init);
            const text = await res.text();
            data = text ? JSON.parse(text) : null;
        } catch (e) {
            if (res && res.ok) {
                throw new ApiError(0, `${path}: the answer is not JSON`);
            }
            if (!res) {
                throw new ApiError(0, e.name === 'AbortError' ? 'no answer within 8 s' : 'no connection');
            }
        } finally {
            clearTimeout(timer);
        }
        if (!res.ok) {
            const message = data && data.error ? data.error : `HTTP ${res.status}`;
            throw new ApiError(res.status, message, data && data.field);
        }
        return data;
    }

    const get = (path) => call('GET', path);
    const enc = encodeURIComponent;
    const memberPath = (pool, address) => `/api/v1/pools/${enc(pool)}/members/${enc(address)}`;

    // ---------------------------------------------------------------------------------------
    // State: the last answers of gtmd, and when they came.

    const S = {
        who: null,
        status: null,
        pools: [],
        monitors: [],
        balancers: [],
        health: null,
        healthError: '',
        explains: new Map(), // "name|A" -> explanation
        events: [], // oldest first
        lastEventId: 0,
        lastOk: 0,
        connected: null,
        lostAt: 0,
        failure: '',
        member: null, // the member whose detail is open: {pool, address}
    };

    const roleAtLeast = (r) => S.who && ROLES[S.who.role] >= ROLES[r];

    async function loadEvents() {
        // Paged forward from the last id seen; the first load walks the whole log once. A page
        // may also end early with `more` (a byte cap) and say where the next one starts.
        for (;;) {
            const data = await get(`/api/v1/events?after=${S.lastEventId}&limit=1000`);
            for (const e of data.events) {
                S.events.push(e);
                S.lastEventId = Math.max(S.lastEventId, e.id);
            }
            if (Number.isInteger(data.next_after)) {
                S.lastEventId = Math.max(S.lastEventId, data.next_after);
            }
            if (S.events.length > EVENTS_KEPT) {
                S.events.splice(0, S.events.length - EVENTS_KEPT);
            }
            if (data.more !== true && data.events.length < 1000) {
                return;
            }
        }
    }

    async function fetchAll() {
        const [status, pools, monitors, balancers] = await Promise.all([
            get('/api/v1/status'), get('/api/v1/pools'), get('/api/v1/monitors'),
            get('/api/v1/balancers')]);
        let health = null;
        let healthError = '';
        try {
            health = await get('/api/v1/health');
        } catch (e) {
            if (e.status !== 503) {
                throw e;
            }
            healthError = e.message; // the prober is overloaded; the rest is still current
        }
        const explains = new Map();
        await Promise.all(status.balancers.flatMap((b) => ['A', 'AAAA']
            .filter((f) => b[f] && b[f].mode !== 'no_members')
            .map(async (f) => {
                try {
                    explains.set(`${b.name}|${f}`,
                        await get(`/api/v1/explain?name=${enc(b.name)}&type=${f}`));
                } catch (e) {
                    if (e.status !== 404) { // deleted meanwhile
                        throw e;
                    }
                }
            })));
        await loadEvents();
        Object.assign(S, {
            status, pools: pools.pools, monitors: monitors.monitors,
            balancers: balancers.balancers, health, healthError, explains,
        });
    }

    let pollTimer = null;
    let polling = false;

    async function poll() {
        clearTimeout(pollTimer);
        if (!token || polling) {
            return;
        }
        polling = true;
        try {
            await fetchAll();
            S.lastOk = Date.now();
            S.connected = true;
            S.failure = '';
            render();
        } catch (e) {
            if (e.status === 401) {
                polling = false;
                signOut('gtmd refused the token (401): sign in again.');
                return;
            }
            if (S.connected !== false) {
                S.lostAt = Date.now();
            }
            S.connected = false;
            S.failure = e.status ? `${e.status}: ${e.message}` : e.message;
            renderConnection();
        } finally {
            polling = false;
        }
        pollTimer = setTimeout(poll, POLL_MS);
    }

    // ---------------------------------------------------------------------------------------
    // Connection and sign-in.

    function renderConnection() {
        // No action on a state that may be out of date.
        for (const b of document.querySelectorAll('button.action')) {
            b.disabled = S.connected !== true;
        }
        const conn = $('conn');
        const banner = $('banner');
        const main = $('app');
        if (!token) {
            fill(conn, badge('info', 'Not signed in'));
            banner.hidden = true;
            return;
        }
        if (S.connected === null) {
            fill(conn, badge('unknown', 'Connecting…'));
            return;
        }
        if (S.connected) {
            fill(conn, badge('ok', 'Live'), ' · updated ', timeEl(S.lastOk, true));
            banner.hidden = true;
            main.classList.remove('stale');
            $('stale').hidden = true;
            return;
        }
        fill(conn, badge('bad', 'Disconnected'));
        fill(banner,
            h('strong', { text: 'Lost the connection to gtmd' }), ' at ', timeEl(S.lostAt, true),
            ` (${S.failure}). `,
            S.lastOk
                ? add(h('span'), ['What is shown below is the last state received, at ',
                    timeEl(S.lastOk, true), ', and may be out of date. '])
                : 'Nothing has been received yet. ',
            `Retrying every ${POLL_MS / 1000} s…`);
        banner.hidden = false;
        main.classList.add('stale');
        const stale = $('stale');
        fill(stale, badge('warn', 'Stale'), ' Last known state, from ',
            S.lastOk ? timeEl(S.lastOk, true) : 'never', ' — not current.');
        stale.hidden = false;
    }

    function renderWho() {
        const who = $('who');
        if (!token || !S.who) {
            who.replaceChildren();
            return;
        }
        fill(who,
            h('span', { text: `${S.who.name} (${S.who.role})`, title: 'the token in use' }), ' ',
            h('button', { type: 'button', class: 'link', onclick: () => signOut(''), text: 'Sign out' }));
    }

    async function signIn(secret) {
        token = secret;
        try {
            S.who = await get('/api/v1/whoami');
        } catch (e) {
            token = null;
            sessionStorage.removeItem(TOKEN_KEY);
            showSignIn(e.status === 401 ? 'gtmd does not know this token.'
                : `Cannot sign in: ${e.message}`);
            return;
        }
        sessionStorage.setItem(TOKEN_KEY, secret);
        $('signin').hidden = true;
        $('app').hidden = false;
        renderWho();
        S.connected = null;
        renderConnection();
        poll();
    }

    function showSignIn(message) {
        $('signin').hidden = false;
        $('app').hidden = true;
        $('signin-error').textContent = message || '';
        renderWho();
        renderConnection();
        $('signin-token').focus();
    }

    function signOut(message) {
        clearTimeout(pollTimer);
        token = null;
        sessionStorage.removeItem(TOKEN_KEY);
        Object.assign(S, {
            who: null, status: null, explains: new Map(), events: [], lastEventId: 0,
            lastOk: 0, connected: null, health: null,
        });
        for (const id of ['balancers', 'pools', 'timeline', 'explain-out']) {
            $(id).replaceChildren();
            delete $(id).dataset.sig;
        }
        for (const d of document.querySelectorAll('dialog[open]')) {
            d.close();
        }
        showSignIn(message);
    }

    // ---------------------------------------------------------------------------------------
    // Derived views of the state.

    // The health target of a member: with several monitors, the one that decided (explain's
    // decided_by), else the first.
    function healthOf(pool, address, monitor) {
        const targets = ((S.health && S.health.targets) || [])
            .filter((t) => t.address === address && (t.pools || []).includes(pool));
        return targets.find((t) => t.monitor === monitor) || targets[0];
    }

    // The explain entries of a member: the same member in every balancer gets the same numbers
    // but its share; the first is used for slow start and effective weight.
    function explainedMember(pool, address) {
        for (const ex of S.explains.values()) {
            for (const tier of ex.tiers) {
                for (const p of tier.pools) {
                    if (p.pool !== pool) {
                        continue;
                    }
                    const m = p.members.find((x) => x.address === address);
                    if (m) {
                        return m;
                    }
                }
            }
        }
        return null;
    }

    // Healthy (eligible) and total members of a pool, from explain's numbers per family.
    function poolCounts(pool) {
        const seen = new Map();
        for (const [key, ex] of S.explains) {
            const family = key.split('|')[1];
            for (const tier of ex.tiers) {
                for (const p of tier.pools) {
                    if (p.pool === pool.name && !seen.has(family)) {
                        seen.set(family, p);
                    }
                }
            }
        }
        if (seen.size === 0) {
            // In no balancer: counted here the way selection counts (verdict up or unknown,
            // admin not drain or down; admin up always).
            let healthy = 0;
            for (const m of pool.members) {
                const t = healthOf(pool.name, m.address);
                const verdict = t ? t.verdict : 'unknown';
                const admin = m.admin || 'auto';
                if (admin === 'up' || (admin === 'auto' && verdict !== 'down')) {
                    healthy += 1;
                }
            }
            return { healthy, total: pool.members.length, up: healthy >= (pool.min_healthy || 1), served: false };
        }
        let healthy = 0;
        let total = 0;
        let up = true;
        for (const p of seen.values()) {
            healthy += p.eligible;
            total += p.members_of_family;
            up = up && p.up;
        }
        return { healthy, total, up, served: true };
    }

    function balancersOfPool(name) {
        return S.balancers.filter((b) => (b.pools || []).some((p) => p.pool === name)).map((b) => b.name);
    }

    function lastError(t) {
        if (!t) {
            return null;
        }
        const recent = t.recent || [];
        for (let i = recent.length - 1; i >= 0; i -= 1) {
            if (!recent[i].ok) {
                return recent[i];
            }
        }
        return t.evidence && !t.evidence.ok && t.evidence.at_ms ? t.evidence : null;
    }

    const verdictBadge = (v) => badge(v === 'up' ? 'up' : v === 'down' ? 'down' : 'unknown', v || 'unknown');

    function adminBadge(a) {
        a = a || 'auto';
        if (a === 'drain') {
            return badge('drain', 'drain', 'no new answers; still probed');
        }
        if (a === 'down') {
            return badge('off', 'down', 'never served');
        }
        if (a === 'up') {
            return badge('warn', 'up (forced)', 'served whatever its probes say');
        }
        return badge('info', 'auto', 'health decides');
    }

    const MODES = {
        normal: ['normal', 'normal'],
        degraded: ['degraded', 'degraded: a lower tier serves'],
        fail_open: ['bad', 'all down: fail_open'],
        fail_closed: ['bad', 'all down: fail_closed'],
        fallback: ['bad', 'all down: fallback'],
        no_members: ['unknown', 'no members'],
    };
    function modeBadge(mode) {
        const [kind, word] = MODES[mode] || ['unknown', mode];
        return badge(kind, word);
    }

    function monitorText(name) {
        const m = S.monitors.find((x) => x.name === name);
        if (!m) {
            return name ? `monitor ${name}` : 'no monitor (always unknown: served)';
        }
        const parts = [`monitor ${m.name}: ${m.type}`];
        if (m.port) {
            parts.push(`port ${m.port}`);
        }
        if (m.host) {
            parts.push(`host ${m.host}`);
        }
        if (m.path) {
            parts.push(`path ${m.path}`);
        }
        if (m.expect_body) {
            parts.push(`expects body text “${m.expect_body}”`);
        }
        return parts.join(', ');
    }

    // ---------------------------------------------------------------------------------------
    // Overview: balancers.

    function renderBalancers() {
        const list = (S.status && S.status.balancers) || [];
        const sig = JSON.stringify([list, [...S.explains], S.who && S.who.role]);
        swap($('balancers'), sig, () => {
            if (list.length === 0) {
                return h('p', { class: 'muted', text: 'No balancers.' });
            }
            const cards = [];
            for (const b of list) {
                for (const family of ['A', 'AAAA']) {
                    const ex = S.explains.get(`${b.name}|${family}`);
                    if (ex) {
                        cards.push(balancerCard(ex));
                    }
                }
            }
            return cards;
        });
    }

    function balancerCard(ex) {
        const allDown = ['fail_open', 'fail_closed', 'fallback'].includes(ex.mode);
        const head = h('header', { class: 'card-head' },
            h('h3', {}, ex.name, h('span', { class: 'family', text: ` ${ex.type}` })),
            modeBadge(ex.mode),
            h('span', { class: 'facts' },
                `serving tier ${ex.serving_priority} · TTL ${ex.ttl} s · max answers ${ex.max_answers} · when all down: ${ex.when_all_down}`));
        const notes = [];
        if (allDown) {
            const what = {
                fail_open: 'answering with every member of the first tier, healthy or not',
                fail_closed: 'answering with no address (NODATA)',
                fallback: 'answering with the fallback addresses',
            }[ex.mode];
            notes.push(h('p', { class: 'alert' }, badge('bad', 'All tiers down'),
                ` Policy ${ex.when_all_down}: ${what}.`));
        } else if (ex.mode === 'degraded') {
            notes.push(h('p', { class: 'warnline' }, badge('warn', 'Failover'),
                ` Tier ${ex.serving_priority} serves: every pool of the tiers before it is down.`));
        }
        const rows = [];
        for (const tier of ex.tiers) {
            for (const p of tier.pools) {
                const serving = tier.priority === ex.serving_priority;
                rows.push(h('tr', { class: 'pool-row' },
                    h('td', { 'data-label': 'Tier', text: String(tier.priority) }),
                    h('th', { scope: 'row', 'data-label': 'Pool' }, p.pool),
                    h('td', { 'data-label': 'Pool state' },
                        p.up ? badge('up', 'up') : badge('down', 'down'),
                        ` ${p.eligible} of ${p.members_of_family} healthy (min ${p.min_healthy})`,
                        serving ? '' : ' · idle tier'),
                    h('td', { 'data-label': 'Pool weight', text: String(p.weight) }),
                    h('td', { 'data-label': 'Share' }, shareBar(p.share))));
                for (const m of p.members) {
                    rows.push(h('tr', { class: 'member-row' },
                        h('td', { 'data-label': '' }),
                        h('td', { 'data-label': 'Member' }, memberButton(p.pool, m.address, `bal:${ex.name}|${ex.type}`)),
                        h('td', { 'data-label': 'Status' },
                            statusBadge(m), ' ',
                            h('span', { class: 'why', text: m.why })),
                        h('td', { 'data-label': 'Weight', text: weightText(m) }),
                        h('td', { 'data-label': 'Share' }, shareBar(m.share))));
                }
            }
        }
        const table = h('table', { class: 'grid' },
            h('caption', { class: 'sr-only', text: `Share of answers for ${ex.name} ${ex.type}, per pool and member` }),
            h('thead', {}, h('tr', {},
                h('th', { scope: 'col', text: 'Tier' }), h('th', { scope: 'col', text: 'Pool / member' }),
                h('th', { scope: 'col', text: 'State' }), h('th', { scope: 'col', text: 'Weight' }),
                h('th', { scope: 'col', text: 'Share of answers' }))),
            h('tbody', {}, rows));
        const answers = ex.answers.length
            ? ex.answers.map((a) => `${a.address} (${a.pool}) ${pct(a.share)}`).join(' · ')
            : 'none (NODATA)';
        return h('article', { class: `card balancer ${allDown ? 'card-bad' : ''}`, 'data-balancer': ex.name, 'data-family': ex.type },
            head, notes, h('div', { class: 'scroll' }, table),
            h('p', { class: 'answers' }, h('span', { class: 'muted', text: 'Answers: ' }), answers));
    }

    // Serving, eligible but not serving (an idle tier, a backup), or out.
    function statusBadge(m) {
        if (m.status === 'serving') {
            return badge('serving', 'serving');
        }
        return m.eligible ? badge('info', m.status.replace('_', ' ')) : badge('bad', m.status.replace('_', ' '));
    }

    function weightText(m) {
        if (m.effective_weight === undefined || m.effective_weight === m.weight) {
            return String(m.weight);
        }
        return `${m.weight} (effective ${Math.round(m.effective_weight * 10) / 10})`;
    }

    function memberButton(pool, address, scope) {
        return h('button', {
            type: 'button', class: 'link member-link', key: `open:${scope}:${pool}|${address}`,
            'aria-label': `${address} in ${pool}: details`,
            onclick: () => openMember(pool, address),
        }, address);
    }

    // ---------------------------------------------------------------------------------------
    // Overview: pools and members.

    function renderPools() {
        const sig = JSON.stringify([S.pools, S.monitors, S.balancers, S.health, [...S.explains], S.who && S.who.role]);
        swap($('pools'), sig, () => {
            if (S.pools.length === 0) {
                return h('p', { class: 'muted', text: 'No pools.' });
            }
            return S.pools.map(poolCard);
        });
    }

    function poolCard(pool) {
        const counts = poolCounts(pool);
        const used = balancersOfPool(pool.name);
        const actions = [];
        if (roleAtLeast('operator')) {
            actions.push(
                h('button', {
                    type: 'button', class: 'action', key: `pool-drain:${pool.name}`,
                    onclick: () => poolAdminAction(pool.name, 'drain'),
                }, `Drain pool ${pool.name}`),
                h('button', {
                    type: 'button', class: 'action', key: `pool-undrain:${pool.name}`,
                    onclick: () => poolAdminAction(pool.name, 'auto'),
                }, `Undrain pool ${pool.name}`));
        }
        const head = h('header', { class: 'card-head' },
            h('h3', { text: pool.name }),
            counts.up ? badge('up', 'up') : badge('down', 'down'),
            h('span', { class: 'facts', text: `${counts.healthy} of ${counts.total} members healthy · min_healthy ${pool.min_healthy || 1}` }),
            actions.length ? h('span', { class: 'actions' }, actions) : null);
        const facts = h('p', { class: 'muted small' },
            monitorText(pool.monitor),
            pool.slow_start && !/^0[a-z]*$/.test(pool.slow_start) ? ` · slow start ${pool.slow_start}` : '',
            ` · ${used.length ? `in ${used.join(', ')}` : 'in no balancer'}`);
        const rows = pool.members.map((m) => memberRow(pool, m));
        const table = h('table', { class: 'grid members' },
            h('caption', { class: 'sr-only', text: `Members of ${pool.name}` }),
            h('thead', {}, h('tr', {},
                ['Member', 'Verdict', 'Suspicion', 'Admin', 'Slow start', 'Weight', 'Last latency', 'Last error']
                    .map((t) => h('th', { scope: 'col', text: t })),
                roleAtLeast('operator') ? h('th', { scope: 'col', text: 'Actions' }) : null)),
            h('tbody', {}, rows));
        return h('article', { class: `card pool ${counts.up ? '' : 'card-bad'}`, 'data-pool': pool.name },
            head, facts, h('div', { class: 'scroll' }, table));
    }

    function memberRow(pool, m) {
        const ex = explainedMember(pool.name, m.address);
        const t = healthOf(pool.name, m.address, ex && ex.decided_by);
        // The verdict the answers were built from (several monitors combined, an alert) is
        // explain's; the health target's is one monitor's.
        const verdict = ex ? ex.verdict : t ? t.verdict : 'unknown';
        const recent = (t && t.recent) || [];
        const last = recent[recent.length - 1];
        const err = lastError(t);
        const ramp = ex && ex.slow_start < 1
            ? h('span', { class: 'ramp' },
                h('progress', { max: '100', value: String(Math.round(ex.slow_start * 100)), 'aria-label': 'slow start' }),
                ` ${pct(ex.slow_start)}`)
            : '—';
        const suspicion = [];
        if (t && t.suspect) {
            suspicion.push(badge('warn', 'suspect', 'a failed probe not yet confirmed, or held out by hold_down'));
        }
        if (t && t.held) {
            suspicion.push(badge('held', 'held', 'the isolation guard keeps its last verdict'));
        }
        if (ex && ex.alert) {
            suspicion.push(badge('bad', `alert: ${ex.alert}`, 'an Alertmanager alert marks it failing'));
        }
        const cells = [
            h('th', { scope: 'row', 'data-label': 'Member' }, memberButton(pool.name, m.address, 'pool')),
            h('td', { 'data-label': 'Verdict', class: 'verdict' }, verdictBadge(verdict),
                ex && ex.monitors && ex.monitors.length > 1 ? h('span', { class: 'muted', text: ` ${monitorsText(ex)}` }) : ''),
            h('td', { 'data-label': 'Suspicion' }, suspicion.length ? suspicion : '—'),
            h('td', { 'data-label': 'Admin' }, adminBadge(m.admin)),
            h('td', { 'data-label': 'Slow start' }, ramp),
            h('td', { 'data-label': 'Weight', text: ex ? weightText(ex) : String(m.weight ?? 100) }),
            h('td', { 'data-label': 'Last latency', text: last ? `${last.latency_ms} ms` : '—' }),
            h('td', { 'data-label': 'Last error', class: 'last-error' },
                err ? [h('span', { class: 'reason', text: err.reason }),
                    err.detail ? `: ${err.detail}` : '', ' · ', timeEl(err.at_ms, true)] : '—'),
        ];
        if (roleAtLeast('operator')) {
            cells.push(h('td', { 'data-label': 'Actions', class: 'actions' }, memberActions(pool.name, m)));
        }
        return h('tr', { 'data-member': m.address }, cells);
    }

    function memberActions(pool, m) {
        const admin = m.admin || 'auto';
        const key = `${pool}|${m.address}`;
        const out = [];
        if (admin === 'drain') {
            out.push(h('button', { type: 'button', class: 'action', key: `undrain:${key}`, onclick: () => memberAdminAction(pool, m.address, 'auto'), 'aria-label': `Undrain ${m.address} in ${pool}` }, 'Undrain'));
        } else if (admin === 'down') {
            out.push(h('button', { type: 'button', class: 'action', key: `auto:${key}`, onclick: () => memberAdminAction(pool, m.address, 'auto'), 'aria-label': `Set ${m.address} in ${pool} back to auto` }, 'Auto'));
        } else {
            out.push(h('button', { type: 'button', class: 'action', key: `drain:${key}`, onclick: () => memberAdminAction(pool, m.address, 'drain'), 'aria-label': `Drain ${m.address} in ${pool}` }, 'Drain'));
        }
        out.push(h('button', { type: 'button', class: 'action', key: `state:${key}`, onclick: () => memberAdminAction(pool, m.address, null, admin), 'aria-label': `Set the admin state of ${m.address} in ${pool}` }, 'State…'));
        if (roleAtLeast('admin')) {
            out.push(h('button', { type: 'button', class: 'action', key: `weight:${key}`, onclick: () => weightAction(pool, m), 'aria-label': `Change the weight of ${m.address} in ${pool}` }, 'Weight…'));
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------
    // Member detail: recent probes, a latency chart, its events.

    function openMember(pool, address) {
        S.member = { pool, address };
        $('member-body').replaceChildren();
        delete $('member-body').dataset.sig;
        renderMember();
        const d = $('member-dialog');
        if (!d.open) {
            d.showModal();
        }
    }

    let chart = null;

    function renderMember() {
        if (!S.member) {
            return;
        }
        const { pool, address } = S.member;
        const t = healthOf(pool, address);
        const ex = explainedMember(pool, address);
        const conf = (S.pools.find((p) => p.name === pool) || { members: [] }).members.find((m) => m.address === address);
        const events = memberEvents(pool, address);
        $('member-h').textContent = `${address} in ${pool}`;
        const sig = JSON.stringify([t, ex, conf, events.map((e) => e.id), S.connected]);
        swap($('member-body'), sig, () => {
            const recent = (t && t.recent) || [];
            const facts = h('dl', { class: 'facts-list' },
                h('dt', { text: 'Verdict' }), h('dd', {}, verdictBadge(t ? t.verdict : 'unknown'),
                    t && t.last_change_at_ms ? [' since ', timeEl(t.last_change_at_ms)] : ''),
                h('dt', { text: 'Suspicion' }), h('dd', {}, t && t.suspect ? badge('warn', 'suspect') : 'none',
                    t && t.held ? [' ', badge('held', 'held by the isolation guard')] : ''),
                h('dt', { text: 'Admin state' }), h('dd', {}, adminBadge(conf && conf.admin)),
                h('dt', { text: 'Weight' }), h('dd', { text: ex ? weightText(ex) : String(conf ? conf.weight ?? 100 : '—') }),
                h('dt', { text: 'Slow start' }), h('dd', { text: ex && ex.slow_start < 1 ? pct(ex.slow_start) : 'no (full weight)' }),
                h('dt', { text: 'Why' }), h('dd', { text: ex ? ex.why : 'in no balancer' }),
                h('dt', { text: 'Monitor' }), h('dd', { text: t ? monitorText(t.monitor) : 'not probed' }),
                h('dt', { text: 'Evidence' }), h('dd', {}, t && t.evidence && t.evidence.at_ms ? resultText(t.evidence) : '—'));
            const chartBox = h('figure', { class: 'chart' },
                h('figcaption', { text: `Latency of the last ${recent.length} probes (ms); failed probes in the second series` }),
                h('div', { class: 'chart-canvas', role: 'img', 'aria-label': latencySummary(recent) }));
            const rows = recent.slice().reverse().map((r) => h('tr', {},
                h('td', { 'data-label': 'Time' }, timeEl(r.at_ms)),
                h('td', { 'data-label': 'Result' }, r.ok ? badge('ok', 'ok') : badge('bad', 'failed')),
                h('td', { 'data-label': 'Reason', text: r.reason }),
                h('td', { 'data-label': 'HTTP', text: r.http_status ? String(r.http_status) : '—' }),
                h('td', { 'data-label': 'Latency', text: `${r.latency_ms} ms` }),
                h('td', { 'data-label': 'Detail', text: r.detail || '' })));
            const probes = h('table', { class: 'grid probes' },
                h('caption', { text: 'Recent probe results, newest first' }),
                h('thead', {}, h('tr', {}, ['Time', 'Result', 'Reason', 'HTTP', 'Latency', 'Detail'].map((x) => h('th', { scope: 'col', text: x })))),
                h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '6', text: 'No probe results yet.' }))));
            const evs = h('section', { 'aria-label': 'Events of this member' },
                h('h3', { text: 'Events' }),
                events.length ? h('ol', { class: 'timeline' }, events.slice().reverse().slice(0, 50).map(eventItem))
                    : h('p', { class: 'muted', text: 'No events.' }));
            const out = [facts, chartBox, h('div', { class: 'scroll' }, probes), evs];
            requestAnimationFrame(() => drawChart(chartBox.querySelector('.chart-canvas'), recent));
            return out;
        });
    }

    function resultText(r) {
        return add(h('span'), [r.ok ? badge('ok', 'ok') : badge('bad', r.reason),
            r.http_status ? ` HTTP ${r.http_status}` : '', ` in ${r.latency_ms} ms`,
            r.detail ? ` (${r.detail})` : '', ' at ', timeEl(r.at_ms, true)]);
    }

    function latencySummary(recent) {
        if (!recent.length) {
            return 'No probe results yet';
        }
        const l = recent.map((r) => r.latency_ms).sort((a, b) => a - b);
        const failed = recent.filter((r) => !r.ok).length;
        return `Latency over ${recent.length} probes: min ${l[0]} ms, median ${l[Math.floor(l.length / 2)]} ms, max ${l[l.length - 1]} ms; ${failed} failed`;
    }

    function drawChart(box, recent) {
        if (chart) {
            chart.destroy();
            chart = null;
        }
        if (!box || !box.isConnected) {
            return;
        }
        if (typeof uPlot === 'undefined') {
            fill(box, h('p', { class: 'muted', text: 'The chart library is not built into this gtmd; the table below has the figures.' }));
            return;
        }
        const xs = recent.map((r) => r.at_ms / 1000);
        const ok = recent.map((r) => (r.ok ? r.latency_ms : null));
        const failed = recent.map((r) => (r.ok ? null : r.latency_ms));
        const width = Math.max(260, Math.min(760, box.clientWidth || 600));
        chart = new uPlot({
            width,
            height: 200,
            scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(10, max * 1.2)] } },
            axes: [{}, { label: 'ms', size: 50 }],
            series: [
                { label: 'time' },
                { label: 'ok (ms)', stroke: '#2e7d32', width: 2, points: { show: true, size: 5 } },
                { label: 'failed (ms)', stroke: '#c62828', width: 0, paths: () => null, points: { show: true, size: 9, fill: '#c62828' } },
            ],
        }, [xs, ok, failed], box);
    }

    function memberEvents(pool, address) {
        return S.events.filter((e) => (e.type === 'verdict' && e.address === address && splitPools(e.pools).includes(pool))
            || (e.type === 'admin' && e.member === address && e.pool === pool));
    }

    // ---------------------------------------------------------------------------------------
    // Events timeline.

    const splitPools = (p) => (Array.isArray(p) ? p : String(p || '').split(',').map((x) => x.trim()).filter(Boolean));

    function eventText(e) {
        const fam = e.family === 'ipv6' ? 'AAAA' : 'A';
        switch (e.type) {
        case 'verdict':
            return `${e.address} [${splitPools(e.pools).join(', ')}] ${e.from} → ${e.to} (${e.reason}${e.detail ? `: ${e.detail}` : ''}${e.http_status ? `, HTTP ${e.http_status}` : ''}, ${e.latency_ms} ms) · monitor ${e.monitor}`;
        case 'tier':
            return `failover: ${e.balancer} ${fam} served by tier ${e.to_priority} (was ${e.from_priority}); mode ${e.from_mode} → ${e.to_mode}`;
        case 'all_down':
            return e.state === 'enter'
                ? `${e.balancer} ${fam}: every tier down; ${e.policy} in force`
                : `${e.balancer} ${fam}: a tier is up again (${e.policy} ends)`;
        case 'isolation':
            return e.state === 'enter'
                ? 'the prober suspects its own network: verdicts are held'
                : 'the prober trusts its network again';
        case 'admin':
            return `${e.member} in ${e.pool}: admin ${e.from} → ${e.to} by ${e.by}`;
        case 'config':
            return `revision ${e.revision} by ${e.by} (${e.action}): ${e.changes} change(s)${(e.summary || []).length ? `: ${e.summary.join(', ')}` : ''}`;
        case 'alert':
            return `Alertmanager ${e.alertname} ${e.state}${e.pool ? ` · pool ${e.pool}` : ''}${e.member ? ` · member ${e.member}` : ''}: ${(e.members || []).length} member(s) ${(e.members || []).join(', ')}`;
        default:
            return Object.entries(e).filter(([k]) => !['id', 'at_ms', 'type'].includes(k))
                .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        }
    }

    const EVENT_KIND = {
        verdict: (e) => (e.to === 'up' ? 'up' : e.to === 'down' ? 'down' : 'unknown'),
        tier: (e) => (e.to_mode === 'normal' ? 'ok' : 'warn'),
        all_down: (e) => (e.state === 'enter' ? 'bad' : 'ok'),
        isolation: (e) => (e.state === 'enter' ? 'warn' : 'ok'),
        admin: () => 'drain',
        config: () => 'info',
        alert: (e) => (e.state === 'firing' ? 'bad' : 'ok'),
    };

    function eventItem(e) {
        const kind = (EVENT_KIND[e.type] || (() => 'info'))(e);
        return h('li', { class: `event ev-${e.type}`, 'data-event-id': String(e.id) },
            timeEl(e.at_ms), ' ', badge(kind, e.type === 'tier' ? 'failover' : e.type.replace('_', ' ')),
            e.node ? h('span', { class: 'muted', text: ` [${e.node}] ` }) : ' ',
            h('span', { class: 'text', text: eventText(e) }));
    }

    function eventMatches(e, f) {
        if (f.type && e.type !== f.type) {
            return false;
        }
        // An alert names the members it marks as "pool/address".
        const marked = e.type === 'alert' ? (e.members || []).map((x) => x.split('/')) : [];
        const pools = e.type === 'verdict' ? splitPools(e.pools)
            : e.type === 'alert' ? marked.map(([p]) => p) : e.pool ? [e.pool] : [];
        const members = e.type === 'verdict' ? [e.address]
            : e.type === 'alert' ? marked.map(([, a]) => a) : [e.member];
        const mentions = (name) => e.type === 'config' && (e.summary || []).some((s) => s.endsWith(`/${name}`));
        if (f.pool && !pools.includes(f.pool) && !mentions(f.pool)) {
            return false;
        }
        if (f.member && !members.includes(f.member)) {
            return false;
        }
        if (f.balancer) {
            const b = S.balancers.find((x) => x.name === f.balancer);
            const its = b ? b.pools.map((p) => p.pool) : [];
            if (e.balancer !== f.balancer && !pools.some((p) => its.includes(p)) && !mentions(f.balancer)) {
                return false;
            }
        }
        return true;
    }

    function setOptions(select, values, all) {
        const current = select.value;
        const sig = JSON.stringify(values);
        if (select.dataset.sig !== sig) {
            fill(select, h('option', { value: '', text: all }), values.map((v) => h('option', { value: v, text: v })));
            select.dataset.sig = sig;
            select.value = values.includes(current) ? current : '';
        }
    }

    function renderEvents() {
        const members = [...new Set(S.pools.flatMap((p) => p.members.map((m) => m.address)))].sort();
        setOptions($('f-balancer'), S.balancers.map((b) => b.name).sort(), 'every balancer');
        setOptions($('f-pool'), S.pools.map((p) => p.name).sort(), 'every pool');
        setOptions($('f-member'), members, 'every member');
        setOptions($('f-type'), EVENT_TYPES, 'every type');
        const f = {
            balancer: $('f-balancer').value, pool: $('f-pool').value,
            member: $('f-member').value, type: $('f-type').value,
        };
        const matching = S.events.filter((e) => eventMatches(e, f));
        const shown = matching.slice(-EVENTS_SHOWN).reverse(); // newest first
        $('events-count').textContent = matching.length > shown.length
            ? `The newest ${shown.length} of ${matching.length} matching events, newest first.`
            : `${matching.length} matching event(s), newest first.`;
        swap($('timeline'), JSON.stringify([f, shown.map((e) => e.id)]),
            () => (shown.length ? shown.map(eventItem) : h('li', { class: 'muted', text: 'No events match.' })));
    }

    // ---------------------------------------------------------------------------------------
    // Explain.

    async function explain(ev) {
        ev.preventDefault();
        const name = $('x-name').value.trim();
        const client = $('x-client').value.trim();
        const type = $('x-type').value;
        const out = $('explain-out');
        delete out.dataset.sig;
        fill(out, h('p', { class: 'muted', text: 'Asking gtmd…' }));
        let path = `/api/v1/explain?name=${enc(name)}&type=${enc(type)}`;
        if (client) {
            path += `&client=${enc(client)}`;
        }
        try {
            fill(out, explainView(await get(path)));
        } catch (e) {
            fill(out, h('p', { class: 'error', role: 'alert' },
                `${e.status || ''} ${e.field ? `${e.field}: ` : ''}${e.message}`));
        }
    }

    // Several monitors on a pool: each one's verdict, the rule and the one that decided.
    function monitorsText(m) {
        return `${m.combine || 'all'}: ${m.monitors.map((x) => `${x.monitor} ${x.verdict}${x.decided ? ' (decided)' : ''}`).join(', ')}`;
    }

    function explainView(x) {
        const tiers = x.tiers.map((tier) => h('section', { class: 'tier' },
            h('h4', {}, `Tier ${tier.priority}`, tier.priority === x.serving_priority ? ' — serving' : ''),
            tier.pools.map((p) => h('div', { class: 'scroll' }, h('table', { class: 'grid explain' },
                h('caption', {}, `Pool ${p.pool}: `, p.up ? badge('up', 'up') : badge('down', 'down'),
                    ` ${p.eligible} of ${p.members_of_family} eligible, min_healthy ${p.min_healthy}, pool weight ${p.weight}, share ${pct(p.share)}`),
                h('thead', {}, h('tr', {}, ['Member', 'Eligible', 'Status and why', 'Verdict', 'Admin', 'Weight', 'Share', 'Evidence', 'Last probe']
                    .map((c) => h('th', { scope: 'col', text: c })))),
                h('tbody', {}, p.members.map((m) => h('tr', {},
                    h('th', { scope: 'row', 'data-label': 'Member', text: m.address }),
                    h('td', { 'data-label': 'Eligible' }, m.eligible ? badge('ok', 'eligible') : badge('bad', 'not eligible')),
                    h('td', { 'data-label': 'Status and why' }, h('strong', { text: m.status }), ': ', m.why),
                    h('td', { 'data-label': 'Verdict' }, verdictBadge(m.verdict),
                        m.suspect ? [' ', badge('warn', 'suspect')] : '', m.held ? [' ', badge('held', 'held')] : '',
                        m.alert ? [' ', badge('bad', `alert: ${m.alert}`)] : '',
                        m.monitors && m.monitors.length > 1 ? h('div', { class: 'muted', text: monitorsText(m) }) : ''),
                    h('td', { 'data-label': 'Admin' }, adminBadge(m.admin)),
                    h('td', { 'data-label': 'Weight', text: weightText(m) }),
                    h('td', { 'data-label': 'Share', text: pct(m.share) }),
                    h('td', { 'data-label': 'Evidence' }, m.evidence ? resultText(m.evidence) : '—'),
                    h('td', { 'data-label': 'Last probe' }, m.last_result ? resultText(m.last_result) : '—'),
                    m.vantages ? h('td', { 'data-label': 'Vantages', text: m.vantages.map((v) => `${v.node}: ${v.verdict}${v.suspect ? ' (suspect)' : ''} ${v.reason}`).join('; ') }) : null))))))));
        return h('article', { class: 'card explanation' },
            h('header', { class: 'card-head' }, h('h3', { text: `${x.name} ${x.type}` }), modeBadge(x.mode),
                h('span', { class: 'facts', text: `serving tier ${x.serving_priority} · TTL ${x.ttl} s · max answers ${x.max_answers} · when all down: ${x.when_all_down} · generation ${x.generation}` })),
            x.client ? h('p', { class: 'muted' }, `Client ${x.client}: ${x.client_note}`) : null,
            h('p', {}, h('strong', { text: 'Answers: ' }),
                x.answers.length ? x.answers.map((a) => `${a.address} (${a.pool}) ${pct(a.share)}`).join(' · ') : 'none (NODATA)'),
            tiers);
    }

    // ---------------------------------------------------------------------------------------
    // Actions: each shows the effect the server computes (a dry run) before it is applied.

    let action = null; // {title, input: () => Node|null, preview: async (value) => effects, apply: async (value) => string}

    function describeEffects(effects, pool, unchanged) {
        if (!effects || effects.length === 0) {
            return [h('p', { class: 'effect-none' }, badge('info', 'No change'),
                ` ${unchanged || 'No balancer\'s answers change: the same addresses, mode and tier.'}`)];
        }
        const out = [];
        for (const e of effects) {
            const share = (t) => {
                const m = new Map();
                for (const a of (t && t.answers) || []) {
                    m.set(a.pool, (m.get(a.pool) || 0) + a.share);
                }
                return m;
            };
            const before = share(e.before);
            const after = share(e.after);
            const pools = [...new Set([...(pool ? [pool] : []), ...before.keys(), ...after.keys()])];
            const lines = pools.map((p) => h('li', {},
                `${p} will receive ${pct(after.get(p) || 0)} of new answers`,
                e.before ? ` (now ${pct(before.get(p) || 0)})` : '', '.'));
            if (e.before && (e.before.mode !== e.after.mode || e.before.serving_priority !== e.after.serving_priority)) {
                lines.push(h('li', { text: `Mode ${e.before.mode} → ${e.after.mode}; serving tier ${e.before.serving_priority} → ${e.after.serving_priority}.` }));
            }
            lines.push(h('li', {
                class: 'healthy',
                text: e.healthy > 0 ? `${e.balancer} keeps ${e.healthy} healthy member${e.healthy === 1 ? '' : 's'}.`
                    : `${e.balancer} is left with no healthy member.`,
            }));
            out.push(h('section', { class: `effect ${e.warning ? 'effect-bad' : ''}` },
                h('h3', { text: `${e.balancer} (${e.type})` }), h('ul', {}, lines),
                e.warning ? h('p', { class: 'warning', role: 'alert' }, badge('bad', 'Warning'), ` ${e.warning}. Clients will get no healthy address from it.`) : null));
        }
        return out;
    }

    function openAction(spec) {
        action = spec;
        $('action-h').textContent = spec.title;
        fill($('action-input'), spec.input ? spec.input() : []);
        $('action-effects').replaceChildren();
        $('action-error').textContent = '';
        $('action-apply').disabled = true;
        $('action-apply').textContent = 'Apply';
        $('action-apply').classList.remove('danger');
        $('action-review').hidden = !spec.input;
        $('action-dialog').showModal();
        if (!spec.input) {
            review();
        } else {
            const first = $('action-input').querySelector('input, select');
            if (first) {
                first.focus();
            }
        }
    }

    function actionValue() {
        const field = $('action-input').querySelector('input, select');
        return field ? field.value : undefined;
    }

    async function review() {
        const spec = action;
        $('action-error').textContent = '';
        $('action-apply').disabled = true;
        fill($('action-effects'), h('p', { class: 'muted', text: 'Asking gtmd what this would do…' }));
        try {
            const value = actionValue();
            if (spec.check) {
                spec.check(value);
            }
            const effects = await spec.preview(value);
            if (action !== spec) {
                return;
            }
            spec.reviewed = value;
            const harmful = effects.some((e) => e.warning);
            fill($('action-effects'), h('p', { class: 'effect-intro', text: spec.intro(value) }), describeEffects(effects, spec.pool, spec.unchanged));
            const apply = $('action-apply');
            apply.disabled = false;
            apply.textContent = harmful ? 'Apply anyway' : 'Apply';
            apply.classList.toggle('danger', harmful);
            if (!spec.input) {
                apply.focus();
            }
        } catch (e) {
            $('action-effects').replaceChildren();
            $('action-error').textContent = `${e.status ? `${e.status}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}`;
        }
    }

    async function applyAction(ev) {
        ev.preventDefault();
        const spec = action;
        if (!spec) {
            return;
        }
        if ($('action-apply').disabled) {
            if (spec.input) {
                review(); // Enter in the input: show the effect first
            }
            return;
        }
        const value = actionValue();
        if (spec.input && value !== spec.reviewed) {
            review(); // the input changed after the review: show the new effect first
            return;
        }
        $('action-apply').disabled = true;
        try {
            const done = await spec.apply(value);
            $('action-dialog').close();
            notice(done);
            poll();
        } catch (e) {
            $('action-error').textContent = `Not applied: ${e.status ? `${e.status}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}`;
        }
    }

    function notice(text) {
        const n = $('notice');
        fill(n, badge('ok', 'Done'), ` ${text}`);
        n.hidden = false;
        clearTimeout(notice.timer);
        notice.timer = setTimeout(() => { n.hidden = true; }, 8000);
    }

    const stateWords = { auto: 'auto (health decides)', up: 'up (served even while its probes fail)', drain: 'drain (no new answers, still probed)', down: 'down (never served)' };

    function memberAdminAction(pool, address, state, current) {
        const path = `${memberPath(pool, address)}/admin`;
        const title = state === 'drain' ? `Drain ${address} in ${pool}`
            : state === 'auto' ? `${address} in ${pool} back to auto` : `Admin state of ${address} in ${pool}`;
        openAction({
            title,
            pool,
            input: state ? null : () => h('label', {}, 'New admin state ',
                h('select', { name: 'admin' }, ADMIN_STATES.map((s) => h('option', { value: s, selected: s === current, text: stateWords[s] })))),
            intro: (v) => `Setting ${address} in ${pool} to admin ${state || v} would do this:`,
            preview: async (v) => (await call('PUT', `${path}?dry_run=true`, { admin: state || v })).effects,
            apply: async (v) => {
                await call('PUT', path, { admin: state || v });
                return `${address} in ${pool}: admin ${state || v}.`;
            },
        });
    }

    function poolAdminAction(pool, state) {
        const path = `/api/v1/pools/${enc(pool)}/admin`;
        openAction({
            title: `${state === 'drain' ? 'Drain' : 'Undrain'} every member of ${pool}`,
            pool,
            input: null,
            intro: () => `Setting every member of ${pool} to admin ${state} would do this:`,
            preview: async () => (await call('PUT', `${path}?dry_run=true`, { admin: state })).effects,
            apply: async () => {
                const r = await call('PUT', path, { admin: state });
                return `${pool}: ${r.changed} member(s) set to admin ${state}.`;
            },
        });
    }

    function weightAction(pool, member) {
        const address = member.address;
        openAction({
            title: `Weight of ${address} in ${pool}`,
            pool,
            input: () => h('label', {}, 'New weight (0–255; 0 makes it a backup) ',
                h('input', { type: 'number', name: 'weight', min: '0', max: '255', step: '1', required: true, value: String(member.weight ?? 100) })),
            check: (v) => {
                if (!/^\d+$/.test(v) || Number(v) > 255) {
                    throw new ApiError(0, 'the weight is a whole number from 0 to 255', 'weight');
                }
            },
            intro: (v) => `Setting the weight of ${address} in ${pool} to ${v} would do this:`,
            unchanged: 'No balancer changes which addresses it serves, its mode or its tier; the shares within its pool follow the new weight.',
            // The member endpoint has no dry run: the same change to the whole document, dry.
            preview: async (v) => {
                const doc = await get('/api/v1/config');
                const m = findMember(doc, pool, address);
                m.weight = Number(v);
                return (await call('PUT', '/api/v1/config?dry_run=true', doc)).effects;
            },
            apply: async (v) => {
                const m = await get(memberPath(pool, address));
                m.weight = Number(v);
                await call('PUT', memberPath(pool, address), m);
                return `${address} in ${pool}: weight ${v}.`;
            },
        });
    }

    function findMember(doc, pool, address) {
        const p = (doc.pools || []).find((x) => x.name === pool);
        const m = p && (p.members || []).find((x) => x.address === address);
        if (!m) {
            throw new ApiError(404, `${address} is no longer a member of ${pool}`);
        }
        return m;
    }

    // ---------------------------------------------------------------------------------------

    function render() {
        renderConnection();
        renderWho();
        const isolated = (S.status && S.status.isolated) || (S.health && S.health.isolated);
        const stale = $('stale');
        if (S.connected && isolated) {
            fill(stale, badge('warn', 'Isolation'), ' The prober suspects its own network: verdicts are held at their last values.');
            stale.hidden = false;
        }
        renderBalancers();
        renderPools();
        renderEvents();
        renderMember();
        const names = (S.status ? S.status.balancers : []).map((b) => b.name);
        swap($('x-names'), JSON.stringify(names), () => names.map((n) => h('option', { value: n })));
    }

    function start() {
        $('signin-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            const value = $('signin-token').value.trim();
            $('signin-token').value = '';
            if (value) {
                signIn(value);
            }
        });
        $('explain-form').addEventListener('submit', explain);
        $('event-filters').addEventListener('change', renderEvents);
        $('action-form').addEventListener('submit', applyAction);
        $('action-cancel').addEventListener('click', () => $('action-dialog').close());
        $('action-review').addEventListener('click', review);
        $('action-dialog').addEventListener('close', () => { action = null; });
        $('member-dialog').addEventListener('close', () => {
            S.member = null;
            if (chart) {
                chart.destroy();
                chart = null;
            }
        });
        for (const b of document.querySelectorAll('[data-close]')) {
            b.addEventListener('click', () => b.closest('dialog').close());
        }
        setInterval(() => { if (token && S.connected === false) { renderConnection(); } }, 1000);

        // `gtmctl open` signs the page in through the URL fragment, which no server or proxy
        // sees: it moves to session storage and leaves the address bar at once.
        const m = /^#token=([^&]+)/.exec(window.location.hash);
        let secret = sessionStorage.getItem(TOKEN_KEY);
        if (m) {
            secret = decodeURIComponent(m[1]);
            history.replaceState(null, '', window.location.pathname + window.location.search);
        }
        if (secret) {
            signIn(secret);
        } else {
            showSignIn('');
        }
    }

    start();
})();
