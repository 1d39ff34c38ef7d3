// The compose form's send time: typing a time chooses "at this time", choosing "as soon as
// it is approved" clears the time. Without this script the server refuses the mix instead.
(function () {
  "use strict";
  var time = document.getElementById("send_at");
  var later = document.getElementById("when-later");
  var now = document.getElementById("when-now");
  if (!time || !later || !now) { return; }
  function typed() { if (time.value) { later.checked = true; } }
  time.addEventListener("input", typed);
  time.addEventListener("change", typed);
  now.addEventListener("change", function () { if (now.checked) { time.value = ""; } });
})();
