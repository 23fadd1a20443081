// The detail page: each result's customer-emotion curve, and the recording player following the transcript.
document.querySelectorAll('script.curve').forEach(data => {
  const pts = JSON.parse(data.textContent);
  new Chart(document.getElementById(data.dataset.canvas), {type: 'line', data: {labels: pts.map(p => '第' + (p.turn + 1) + '句'),
    datasets: [{label: '负面程度', data: pts.map(p => p.score), borderColor: '#d9534f', tension: 0.3}]}, options: {scales: {y: {min: 0, max: 1}}}});
});
const audio = document.getElementById('recording');
if (audio) {
  const turns = [...document.querySelectorAll('.turn[data-start]')];
  turns.forEach(t => t.addEventListener('click', () => { audio.currentTime = +t.dataset.start; audio.play(); }));
  audio.addEventListener('timeupdate', () => {
    let current = null;
    for (const t of turns) if (+t.dataset.start <= audio.currentTime) current = t;
    turns.forEach(t => t.classList.toggle('playing', t === current));
  });
}
