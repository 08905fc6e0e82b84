// The browser tests' harness: the real gtmd and the project's test gateway on loopback with
// OS-chosen (or random, retried) ports, dig, and Debian's Chromium driven by playwright-core.
// Every wait polls a condition with a deadline; nothing sleeps a fixed time to let things settle.
// Only 127.0.0.0/8 is ever addressed, and the browser is refused any other host.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const GTMD_BIN = process.env.GTMD_BIN || path.join(REPO, 'build/dev/gtmd/gtmd');
export const GTMCTL_BIN = process.env.GTMCTL_BIN || path.join(REPO, 'build/dev/web/gtmctl');
export const GATEWAY_BIN = path.join(REPO, 'tests/gateway/gtm-test-gateway');
export const CHROMIUM = process.env.GTM_CHROMIUM || '/usr/bin/chromium';
export const ADMIN_SECRET = 'browser-test-admin-7c1d9e';
export const SCREENSHOTS = path.join(here, 'screenshots'); // git ignores it

const run = promisify(execFile);

export async function waitFor(condition, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const value = await condition();
        if (value) {
            return value;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, interval));
    }
}

// A fresh folder for one test run; kept afterwards (its path is printed) for the screenshots
// and the servers' logs.
export function runDir() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gtm-browser-'));
    console.log(`# test files (screenshots, logs): ${dir}`);
    return dir;
}

function exited(proc) {
    return new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
            resolve(proc.exitCode);
        } else {
            proc.once('exit', (code) => resolve(code));
        }
    });
}

async function readJson(file) {
    try {
        return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
        return null;
    }
}

// One gtmd: the desired-state document (JSON is YAML) applied at start, an optional gtmd.yaml.
export class Gtmd {
    constructor(dir, document, { config = null, tls = false } = {}) {
        this.dir = dir;
        this.tls = tls;
        fs.mkdirSync(dir, { recursive: true });
        this.docPath = path.join(dir, 'desired.yaml');
        fs.writeFileSync(this.docPath, JSON.stringify(document, null, 2));
        this.configPath = config ? path.join(dir, 'gtmd.yaml') : null;
        if (config) {
            fs.writeFileSync(this.configPath, config);
        }
        this.portsPath = path.join(dir, 'ports.json');
        this.logPath = path.join(dir, 'gtmd.log');
        this.proc = null;
        this.ports = null;
    }

    async start() {
        fs.rmSync(this.portsPath, { force: true });
        const args = ['--apply', this.docPath, '--dns-listen', '127.0.0.1:0', '--http-listen',
            '127.0.0.1:0', '--data-dir', path.join(this.dir, 'data'), '--ports-file',
            this.portsPath, '--workers', '2'];
        if (this.configPath) {
            args.push('--config', this.configPath);
        }
        const log = fs.openSync(this.logPath, 'a');
        this.proc = spawn(GTMD_BIN, args, {
            cwd: this.dir, stdio: ['ignore', log, log],
            env: { ...process.env, GTMD_ADMIN_TOKEN: ADMIN_SECRET },
        });
        fs.closeSync(log);
        this.ports = await waitFor(async () => {
            if (this.proc.exitCode !== null) {
                throw new Error(`gtmd exited with ${this.proc.exitCode}:\n${this.logs()}`);
            }
            return readJson(this.portsPath);
        }, { timeout: 20000, what: 'gtmd\'s ports file' });
        return this;
    }

    get url() {
        return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.ports.http}`;
    }

    logs() {
        return fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : '';
    }

    // SIGTERM; resolves to the exit code.
    async stop() {
        if (!this.proc || this.proc.exitCode !== null) {
            return this.proc ? this.proc.exitCode : null;
        }
        this.proc.kill('SIGTERM');
        const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
        const code = await exited(this.proc);
        clearTimeout(timer);
        return code;
    }

    // The API from the test (plain HTTP only), as the admin unless another secret is given.
    async api(method, apiPath, body, secret = ADMIN_SECRET) {
        const headers = { Authorization: `Bearer ${secret}` };
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
        }
        const res = await fetch(this.url + apiPath, {
            method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        if (!res.ok) {
            throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
        }
        return text ? JSON.parse(text) : null;
    }

    async token(name, role) {
        return (await this.api('POST', '/api/v1/tokens', { name, role })).token;
    }

    // The A addresses dig gets for `name`.
    async dig(name) {
        const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(this.ports.dns),
            '+short', '+tries=1', '+time=3', name, 'A'], { timeout: 30000 });
        return stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
    }

    async gtmctl(...args) {
        return run(GTMCTL_BIN, ['--server', this.url, '--token', ADMIN_SECRET, ...args],
            { timeout: 30000 });
    }
}

// The project's test gateway: HTTP listeners on 127.0.x.y addresses whose mode a test switches.
export class Gateway {
    constructor(dir) {
        this.dir = dir;
        fs.mkdirSync(dir, { recursive: true });
        this.proc = null;
        this.control = null;
        this.port = null;
    }

    // Listens on `addresses` at one random port below the ephemeral range; a taken port (the
    // gateway exits 2) is retried on another.
    async start(addresses) {
        for (let attempt = 0; attempt < 8; attempt += 1) {
            const port = 20000 + Math.floor(Math.random() * 12000);
            const portsFile = path.join(this.dir, `gateway-ports-${port}.json`);
            const args = ['--control', '127.0.0.1:0', '--ports-file', portsFile];
            for (const a of addresses) {
                args.push('--listen', `${a}:${port}`);
            }
            const log = fs.openSync(path.join(this.dir, 'gateway.log'), 'a');
            const proc = spawn(GATEWAY_BIN, args, { stdio: ['ignore', log, log] });
            fs.closeSync(log);
            const ports = await waitFor(async () => {
                if (proc.exitCode !== null) {
                    return { failed: proc.exitCode };
                }
                return readJson(portsFile);
            }, { timeout: 20000, what: 'the gateway\'s ports file' });
            if (ports.failed === undefined) {
                this.proc = proc;
                this.control = ports.control;
                this.port = port;
                return this;
            }
        }
        throw new Error('the test gateway could not bind a port in 8 attempts');
    }

    async mode(mode, addr) {
        const q = new URLSearchParams({ mode, ...(addr ? { addr } : {}) });
        const res = await fetch(`http://127.0.0.1:${this.control}/mode?${q}`, { method: 'POST' });
        if (!res.ok) {
            throw new Error(`gateway mode ${mode}: ${res.status}`);
        }
    }

    async stop() {
        if (!this.proc || this.proc.exitCode !== null) {
            return;
        }
        this.proc.kill('SIGTERM');
        await exited(this.proc);
    }
}

// Debian's Chromium, headless, with nothing that phones home; a fresh profile each launch
// (playwright gives every launched browser its own new --user-data-dir).
export async function launchBrowser() {
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-quic'],
    });
}

// A browser context that refuses every host but 127.0.0.1 (recorded in `refused`), records
// CSP violations in the page (window.__csp), and every API call with its answer (`calls`) for
// the OpenAPI check.
export async function newContext(browser, { viewport = { width: 1280, height: 800 }, https = false } = {}) {
    const context = await browser.newContext({ viewport, ignoreHTTPSErrors: https });
    context.refused = [];
    context.calls = [];
    await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname !== '127.0.0.1') {
            context.refused.push(url.href);
            return route.abort('blockedbyclient');
        }
        return route.continue();
    });
    await context.addInitScript(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
        });
    });
    context.on('requestfinished', async (request) => {
        const url = new URL(request.url());
        if (!url.pathname.startsWith('/api/')) {
            return;
        }
        const response = await request.response();
        let body = null;
        try {
            body = await response.text();
        } catch {
            body = null; // the page went away
        }
        context.calls.push({
            method: request.method(), url: request.url(), requestBody: request.postData(),
            status: response.status(), contentType: response.headers()['content-type'] || '', body,
        });
    });
    return context;
}

// A PNG of the whole page (or only what the window shows), under `dir` and copied to
// tests/browser/screenshots/.
export async function screenshot(page, dir, name, { fullPage = true } = {}) {
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(SCREENSHOTS, `${name}.png`));
    return file;
}

// A self-signed certificate for 127.0.0.1 (openssl), for the API's TLS.
export async function selfSignedCert(dir) {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
        '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext',
        'subjectAltName=IP:127.0.0.1'], { timeout: 60000 });
    return { cert, key };
}

// `redocly lint` with the recommended rules, its telemetry and update check off, and (where we
// may: root) in a network namespace of its own, so that it cannot reach beyond the machine.
export async function redoclyLint(file) {
    const bin = path.join(here, 'node_modules', '.bin', 'redocly');
    let argv = [bin, 'lint', '--extends', 'recommended', file];
    try {
        await run('unshare', ['-n', 'true']);
        argv = ['unshare', '-n', ...argv];
    } catch {
        // not allowed here: the environment variables alone keep it quiet
    }
    try {
        const { stdout, stderr } = await run(argv[0], argv.slice(1), {
            timeout: 120000,
            env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        });
        return { code: 0, output: stdout + stderr };
    } catch (e) {
        return { code: e.code, output: (e.stdout || '') + (e.stderr || '') };
    }
}
