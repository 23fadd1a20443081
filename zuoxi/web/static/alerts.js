// 投诉预警: ask the server every 15 seconds how many alerts are open and say so when there are new ones.
(function () {
  const notice = document.getElementById("alerts-new");
  if (!notice) return;
  const shown = Number(notice.dataset.count || 0);
  async function poll() {
    try {
      const response = await fetch("/api/alerts?limit=0", {headers: {accept: "application/json"}});
      if (!response.ok) return;
      const figures = await response.json();
      notice.hidden = !(figures.open > shown);
    } catch (error) {
      // the server is restarting or the network dropped: try again on the next round
    }
  }
  setInterval(poll, 15000);
})();
