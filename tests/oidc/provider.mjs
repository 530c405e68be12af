// A real OpenID Connect provider (the certified `oidc-provider` package) for BuildWatch's sign-in tests.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG: {"clients": [oidc-provider client metadata…], "accounts": {"login": {claims…}}}. Listens on a
// free loopback port and prints "ready http://127.0.0.1:PORT" (the issuer) once it answers. Sign-in and
// consent are oidc-provider's own development pages (devInteractions): any password is accepted for a
// login listed in "accounts"; its claims are what userinfo and the ID token say (read from CONFIG at
// each use, so a test can change them). Started and stopped by tests/oidc_provider.py.
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const server = http.createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

// Plain pages, no outside fonts or scripts: tests reach no network.
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>`
  + `<body><h1>${title}</h1>${body}</body></html>`;

const provider = new Provider(issuer, {
  clients: config.clients,
  async findAccount(ctx, id) {
    // Read again each time: a test may change an account meanwhile (tests/oidc_provider.set_account).
    const claims = JSON.parse(readFileSync(process.argv[2], 'utf8')).accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  cookies: { keys: ['buildwatch-tests-only'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out of the test provider?', `${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out of the test provider', '');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Provider error', `<pre>${JSON.stringify(out).replace(/[<>&]/g, '')}</pre>`);
  },
});
provider.on('server_error', (ctx, error) => { console.error('server_error', error); });

server.on('request', provider.callback());
process.on('SIGTERM', () => { server.close(); process.exit(0); });
console.log(`ready ${issuer}`);
