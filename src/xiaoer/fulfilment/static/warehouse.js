// The pack screen with a barcode scanner: a code and Enter counts one unit at once;
// a quantity and Enter right after makes that code's count the quantity; the next
// code simply starts again. Refusals are shown loudly and counted nothing.
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form) { return; }
  var input = document.getElementById("scan-input");
  var quantity = document.getElementById("scan-quantity");
  var message = document.getElementById("scan-message");
  var last = null; // the code the last accepted scan counted
  var busy = Promise.resolve();

  if (quantity) {
    quantity.closest("form").querySelector("label[for=scan-quantity]").hidden = true;
    quantity.hidden = true;
  }

  function codes() {
    return Array.prototype.map.call(document.querySelectorAll("#parcel-lines tr[data-code]"),
      function (row) { return row.getAttribute("data-code").toLowerCase(); });
  }

  function say(text, refused) {
    message.textContent = text;
    message.className = "wh-message " + (refused ? "wh-refused" : "wh-ok");
    message.setAttribute("role", refused ? "alert" : "status");
    if (refused) { beep(); }
  }

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      var audio = new Context();
      var tone = audio.createOscillator();
      tone.frequency.value = 220;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.35);
    } catch (e) { /* no sound: the message still shows */ }
  }

  function send(code, count) {
    var data = new FormData(form);
    data.set("code", code);
    data.set("quantity", String(count));
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    }).then(function (answer) {
      var body = answer.body;
      if (!body.ok) {
        say(body.message || String(answer.status), true);
        return false;
      }
      var row = document.querySelector('#parcel-lines tr[data-line="' + body.line_id + '"]');
      if (row) {
        row.querySelector(".packed").textContent = body.packed;
        if (body.packed >= body.quantity) { row.classList.add("wh-full"); }
      }
      say(body.message, false);
      if (body.full) { window.location.reload(); }
      return true;
    }).catch(function () {
      say(form.getAttribute("data-offline") || "…", true);
      return false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var typed = input.value.trim();
    input.value = "";
    input.focus();
    if (!typed) { return; }
    var isCount = /^\d{1,4}$/.test(typed) && codes().indexOf(typed.toLowerCase()) < 0;
    busy = busy.then(function () {
      if (isCount && last !== null) {
        var more = parseInt(typed, 10) - 1;
        var code = last;
        last = null;
        return more > 0 ? send(code, more) : true;
      }
      return send(typed, 1).then(function (ok) { last = ok ? typed : null; });
    });
  });
})();
