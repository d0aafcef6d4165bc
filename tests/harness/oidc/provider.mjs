// A real OpenID provider (npm `oidc-provider`) for Aula's SSO integration tests.
//
// The Rust harness (`tests/harness/src/oidc.rs`) starts one per test, on a loopback port, with
// the accounts and relying-party clients that test needs, then drives its login form over HTTP
// the way a browser would. It supports the authorization code flow with PKCE (S256) and nonce,
// the `openid email profile` scopes, ID tokens carrying `email`, `email_verified` and `name`, and
// client authentication with `client_secret_basic` or `client_secret_post`. Consent is granted
// automatically once the user has signed in. State lives in memory; signing keys are made fresh
// at start. It never reaches the network beyond its own loopback socket.
//
// Configuration is JSON, from the environment variable AULA_OIDC_CONFIG or the first argument:
//   { "port": 0,
//     "accounts": [{ "login": "ada", "password": "pw", "sub": "ada-1", "email": "ada@acme.test",
//                    "email_verified": true, "name": "Ada" }],
//     "clients": [{ "client_id": "aula", "client_secret": "s3cret",
//                   "redirect_uris": ["http://127.0.0.1:8080/sso/callback"] }] }
// Port 0 picks a free port. Once listening it prints one line, `AULA_OIDC_READY <issuer>`, with
// issuer `http://127.0.0.1:<port>`. It exits on SIGTERM, SIGINT or when its stdin closes, so
// a test process that dies never leaves it behind (run it by hand with stdin on a terminal).

import * as crypto from 'node:crypto';
import { createServer } from 'node:http';

if (!crypto.hash) {
  // oidc-provider 9 checks PKCE with crypto.hash; Debian 12's own nodejs (18) lacks it.
  console.error(`provider.mjs: Node.js ${process.version} is too old, it needs 20.12 or later`);
  process.exit(2);
}
const { default: Provider } = await import('oidc-provider');

const raw = process.env.AULA_OIDC_CONFIG ?? process.argv[2];
if (!raw) {
  console.error('provider.mjs: set AULA_OIDC_CONFIG (or pass the JSON config as argument)');
  process.exit(2);
}
const config = JSON.parse(raw);
const accounts = config.accounts ?? [];
const byLogin = new Map(accounts.map((a) => [a.login, a]));
const bySub = new Map(accounts.map((a) => [a.sub, a]));

const exit = () => process.exit(0);
process.on('SIGTERM', exit);
process.on('SIGINT', exit);
process.stdin.on('end', exit);
process.stdin.on('error', exit);
process.stdin.resume();
process.stdout.on('error', () => {}); // the reader went away: nothing left to tell it

// The server listens first: the issuer needs the port that port 0 turned into.
let handle = (_req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handle(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port ?? 0, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
  })),
  jwks: { keys: [signingKey] },
  // Cookies are signed with a per-process key; over plain http they are not marked Secure.
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scope's claims in the ID token too, not only behind the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const account = bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: account.email,
          email_verified: account.email_verified ?? true,
          name: account.name,
        };
      },
    };
  },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const loginPage = (uid, clientId, error) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in to ${escape(clientId)}</h1>
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<input type="text" name="login" autofocus>
<input type="password" name="password">
<button type="submit">Sign in</button>
</form></body></html>`;

async function formBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The interaction pages: the login form, and consent granted as soon as it is asked for.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
  if (!match) return next();
  ctx.set('Cache-Control', 'no-store');
  try {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    const { uid, prompt, params, session, grantId } = interaction;
    if (uid !== match[1]) ctx.throw(400, 'interaction does not match its cookie');

    if (prompt.name === 'login') {
      if (ctx.method === 'GET') {
        ctx.type = 'html';
        ctx.body = loginPage(uid, params.client_id);
        return;
      }
      if (ctx.method !== 'POST') ctx.throw(405);
      const form = await formBody(ctx.req);
      const account = byLogin.get(form.get('login') ?? '');
      if (!account || account.password !== form.get('password')) {
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(uid, params.client_id, 'Invalid login or password.');
        return;
      }
      const result = { login: { accountId: account.sub } };
      ctx.status = 303;
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
      return;
    }

    if (prompt.name === 'consent') {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { details } = prompt;
      if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
      if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const result = { consent: { grantId: await grant.save() } };
      ctx.status = 303;
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
      return;
    }

    ctx.throw(501, `prompt ${prompt.name} is not supported`);
  } catch (err) {
    ctx.status = err.statusCode ?? err.status ?? 500;
    ctx.type = 'text';
    ctx.body = `${err.name}: ${err.error_description ?? err.message}`;
  }
});

handle = provider.callback();
console.log(`AULA_OIDC_READY ${issuer}`);
