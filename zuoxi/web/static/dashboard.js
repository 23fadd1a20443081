// The dashboard's charts, from the figures in #chart-data.
const D = zuoxi.data('chart-data');
new Chart(document.getElementById('bands'), {type: 'bar', data: {labels: D.bands.map(b => b[0]), datasets: [{label: '会话数', data: D.bands.map(b => b[1]), backgroundColor: '#5b8def'}]}, options: {plugins: {legend: {display: false}}}});
new Chart(document.getElementById('trend'), {type: 'line', data: {labels: D.trend.map(t => t[0]), datasets: [{label: '平均分', data: D.trend.map(t => t[1]), borderColor: '#2a9d8f'}]}, options: {scales: {y: {min: 0, max: 100}}}});
const radarSelect = document.getElementById('radar-agent');
let radar;
function drawRadar() {
  const p = D.profiles[radarSelect.value] || {};
  const keys = Object.keys(p);
  if (radar) radar.destroy();
  radar = new Chart(document.getElementById('radar'), {type: 'radar', data: {labels: keys.map(k => D.skill_names[k] || k), datasets: [{label: radarSelect.value, data: keys.map(k => p[k]), backgroundColor: 'rgba(91,141,239,0.2)', borderColor: '#5b8def'}]}, options: {scales: {r: {min: 0, max: 1}}}});
}
radarSelect.addEventListener('change', drawRadar); drawRadar();
