// The NodeJS samples of the Onomondo API doc, as written, in the doc's order
// (create, retrieve, update, send SMS, delete). Only the base URL differs:
// request.defaults points them at $SIM_URL; NODE_EXTRA_CA_CERTS trusts its CA.
// Prints one JSON line per sample: {"sample", "status", "body"}.
var request = require("request").defaults({ baseUrl: process.env.SIM_URL });

var samples = [
  ["Create SIM", {
    method:  "POST",
    url:     "/sim/4512345678",
    headers: { Authorization:  "YOUR-API-KEY",
               "content-type": "application/json" },
    form:
      { imsi:            "238731234567890",
        voice:           true,
        sms:             true,
        data:            true,
        data_throttling: false }
  }],
  ["Retrieve SIM", {
    method:  "GET",
    url:     "/sim/4512345678",
    headers: { Authorization: "YOUR-API-KEY" }
  }],
  ["Update SIM", {
    method:  "PUT",
    url:     "/sim/4512345678",
    headers: { Authorization:  "YOUR-API-KEY",
               "content-type": "application/json" },
    form:
      { imsi:            "238731234567890",
        voice:           true,
        sms:             true,
        data:            true,
        data_throttling: false }
  }],
  ["Send SMS", {
    method:  "POST",
    url:     "/sms/4512345678",
    headers: { Authorization:  "YOUR-API-KEY",
               "content-type": "application/json" },
    form:
      { from: "Onomondo",
        text: "Hello, World!" }
  }],
  ["Delete SIM", {
    method:  "DELETE",
    url:     "/sim/4512345678",
    headers: { Authorization: "YOUR-API-KEY" }
  }]
];

function run(i) {
  if (i >= samples.length) return;
  request(samples[i][1], function (error, response, body) {
    if (error) throw new Error(error);
    console.log(JSON.stringify({ sample: samples[i][0], status: response.statusCode, body: body }));
    run(i + 1);
  });
}
run(0);
