// node-soap (npm "soap") playing a partner: loads the WSDL by URL, then makes the calls of
// a plan read as JSON from stdin, each with its own WS-Security UsernameToken (node-soap's
// own WSSecurity, PasswordDigest or PasswordText). Prints what it fetched and what each
// call answered, as JSON, for tests/soap/test_node_soap_client.py to judge.
"use strict";
const fs = require("fs");
const axios = require("axios");
const soap = require("soap");

async function main() {
  const plan = JSON.parse(fs.readFileSync(0, "utf8"));
  const fetched = [];
  const http = axios.create();
  http.interceptors.request.use((config) => {
    if ((config.method || "get").toLowerCase() === "get") fetched.push(config.url);
    return config;
  });
  const client = await soap.createClientAsync(plan.wsdl, { request: http, disableCache: true });
  const port = client[plan.service][plan.port];
  const results = [];
  for (const call of plan.calls) {
    const c = call.credentials;
    client.setSecurity(
      new soap.WSSecurity(c.username, c.password, {
        passwordType: c.passwordType,
        hasNonce: true,
        hasTokenCreated: true,
        hasTimeStamp: false,
        mustUnderstand: true,
      }),
    );
    const answer = await new Promise((resolve) => {
      port[call.operation](call.args, (err, result) => resolve({ err, result }));
    });
    if (!answer.err) {
      results.push({ operation: call.operation, ok: true, result: answer.result });
      continue;
    }
    const fault = answer.err.root && answer.err.root.Envelope && answer.err.root.Envelope.Body.Fault;
    const detail = fault && fault.detail && fault.detail.FaultDetail;
    results.push({
      operation: call.operation,
      ok: false,
      status: answer.err.response ? answer.err.response.status : null,
      faultcode: fault ? fault.faultcode : null,
      code: detail ? detail.Code : null,
      message: fault ? fault.faultstring : String(answer.err),
    });
  }
  process.stdout.write(JSON.stringify({ soap: require("soap/package.json").version, fetched, results }));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
