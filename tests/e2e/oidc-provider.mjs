// A small OpenID provider for the console's end-to-end tests: discovery,
// JWKS, an authorize endpoint that signs in a fixed person at once, and a
// token endpoint that checks the code, the redirect URI, the client and
// the PKCE verifier, then issues an ES256-signed ID token with the nonce.
import http from "node:http";
import crypto from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export async function startProvider({ clientId, email }) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "e2e", alg: "ES256", use: "sig" };
  const codes = new Map();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    const json = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
      });
    }
    if (url.pathname === "/jwks") return json(200, { keys: [jwk] });
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      if (q.get("client_id") !== clientId || q.get("code_challenge_method") !== "S256" || q.get("response_type") !== "code") {
        return json(400, { error: "invalid_request" });
      }
      const code = b64url(crypto.randomBytes(16));
      codes.set(code, { challenge: q.get("code_challenge"), nonce: q.get("nonce"), redirect: q.get("redirect_uri") });
      const to = new URL(q.get("redirect_uri"));
      to.searchParams.set("code", code);
      to.searchParams.set("state", q.get("state"));
      res.writeHead(302, { location: to.toString() });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      for await (const chunk of req) body += chunk;
      const f = new URLSearchParams(body);
      const entry = codes.get(f.get("code"));
      codes.delete(f.get("code"));
      const verifier = f.get("code_verifier") || "";
      const ok = entry && f.get("client_id") === clientId && f.get("redirect_uri") === entry.redirect &&
        b64url(crypto.createHash("sha256").update(verifier).digest()) === entry.challenge;
      if (!ok) return json(400, { error: "invalid_grant" });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "e2e" }));
      const claims = b64url(JSON.stringify({
        iss: issuer, aud: clientId, sub: "e2e-person", email, email_verified: true, nonce: entry.nonce,
        iat: now, nbf: now, exp: now + 300,
      }));
      const sig = crypto.sign("sha256", Buffer.from(`${header}.${claims}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
      return json(200, { access_token: "opaque", token_type: "Bearer", id_token: `${header}.${claims}.${b64url(sig)}` });
    }
    json(404, { error: "not_found" });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, close: () => server.close() };
}
