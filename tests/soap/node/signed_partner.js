// node-soap (npm "soap") playing a partner that signs its messages: loads the WSDL by URL,
// then makes the calls of a plan read as JSON from stdin, each with node-soap's own
// WS-Security: a UsernameToken (WSSecurity, PasswordDigest) plus WSSecurityCert (xml-crypto:
// BinarySecurityToken, Timestamp, signature over Body and Timestamp by wsu:Id), joined by
// WSSecurityPlusCert. Prints what each call answered, as JSON, for test_wss_node_soap.py.
"use strict";
const fs = require("fs");
const soap = require("soap");

async function main() {
  const plan = JSON.parse(fs.readFileSync(0, "utf8"));
  const client = await soap.createClientAsync(plan.wsdl, { disableCache: true });
  const port = client[plan.service][plan.port];
  const results = [];
  for (const call of plan.calls) {
    const token = new soap.WSSecurity(call.username, call.password, {
      passwordType: "PasswordDigest",
      hasNonce: true,
      hasTokenCreated: true,
      hasTimeStamp: false,
      mustUnderstand: true,
    });
    const cert = new soap.WSSecurityCert(fs.readFileSync(call.key), fs.readFileSync(call.cert), "", {
      hasTimeStamp: true,
      signerOptions: { idMode: "wssecurity" },
    });
    client.setSecurity(new soap.WSSecurityPlusCert(token, cert));
    const answer = await new Promise((resolve) => {
      port[call.operation](call.args, (err, result) => resolve({ err, result }));
    });
    if (!answer.err) {
      results.push({ operation: call.operation, ok: true, result: answer.result, sent: client.lastRequest });
      continue;
    }
    const fault = answer.err.root && answer.err.root.Envelope && answer.err.root.Envelope.Body.Fault;
    const detail = fault && fault.detail && fault.detail.FaultDetail;
    results.push({
      operation: call.operation,
      ok: false,
      faultcode: fault ? fault.faultcode : null,
      code: detail ? detail.Code : null,
      message: fault ? fault.faultstring : String(answer.err),
      sent: client.lastRequest,
    });
  }
  process.stdout.write(JSON.stringify({ soap: require("soap/package.json").version, results }));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
