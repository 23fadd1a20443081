// Live assist: turns typed or replayed go over the WebSocket; alerts and the emotion come back.
const {replay: REPLAY, channel: CHANNEL, session: SESSION, conversation: CONVERSATION} = zuoxi.data('live-data');
const EMOTIONS = {angry: '愤怒', anxious: '焦急', sad: '失落', neutral: '平静', positive: '满意'};
const esc = zuoxi.esc;
const $ = id => document.getElementById(id);
let socket = null, sent = 0, replayed = 0, playing = false, waiting = false, timer = null, ended = false, ending = false;
const local = [];  // the conversation as this page knows it: local[i] is turn i

function url() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${location.host}/api/live/${SESSION}?scorecard=${encodeURIComponent($('scorecard').value)}&channel=${encodeURIComponent(CHANNEL)}&conversation=${encodeURIComponent(CONVERSATION)}`;
}
function connect() {
  socket = new WebSocket(url());
  socket.onopen = () => { $('status').textContent = '已连接'; $('scorecard').disabled = true; };
  socket.onclose = () => {
    waiting = false;
    if (ended) { $('status').textContent = '已结束'; return; }
    $('status').textContent = '连接断开，正在重连…';
    setTimeout(connect, 1000);  // the server kept the session: `state` says where to resume
  };
  socket.onmessage = event => handle(JSON.parse(event.data));
}
function addTurn(i, turn) {
  $('transcript').insertAdjacentHTML('beforeend', `<div class="turn ${esc(turn.role)}" data-turn="${i}"><div class="who">${i + 1} ${turn.role === 'agent' ? '坐席' : '客户'}</div><div class="bubble">${esc(turn.text)}<span class="emo"></span></div></div>`);
}
function showAlert(a) {
  $('no-alerts').hidden = true;
  const quotes = a.evidence.map(e => `“${esc(e.text)}”<span class="muted">（第${esc(e.turn + 1)}句）</span>`).join(' ');
  $('alerts').insertAdjacentHTML('afterbegin', `<div class="alert ${esc(a.kind)}" data-kind="${esc(a.kind)}" data-turn="${esc(a.turn)}">
    <b>${esc(a.title)}</b> <span class="muted">第${esc(a.turn + 1)}句${a.rule ? ' · ' + esc(a.rule) : ''}${a.score != null ? ' · ' + a.score.toFixed(2) : ''}</span>
    ${a.message ? `<div>${esc(a.message)}</div>` : ''}${quotes ? `<div class="sugg">${quotes}</div>` : ''}
    ${a.suggestion ? `<div class="suggestion">建议：${esc(a.suggestion)}</div>` : ''}</div>`);
}
function handle(m) {
  if (m.type === 'state') {
    sent = m.turns;
    // after a reconnect: the alerts of a turn whose answer was lost with the connection
    m.alerts.filter(a => !document.querySelector(`.alert[data-kind="${a.kind}"][data-turn="${a.turn}"]`)).forEach(showAlert);
    pump();
  } else if (m.type === 'update') {
    waiting = false;
    // a duplicate answers a turn the server had before a reconnect: its alerts are shown too, once
    m.alerts.filter(a => !document.querySelector(`.alert[data-kind="${a.kind}"][data-turn="${a.turn}"]`)).forEach(showAlert);
    if (m.emotion) {
      $('emotion').textContent = EMOTIONS[m.emotion.label] || m.emotion.label;
      const mark = document.querySelector(`.turn[data-turn="${m.turn}"] .emo`);
      if (mark && m.emotion.label !== 'neutral') { mark.textContent = EMOTIONS[m.emotion.label]; mark.classList.add(m.emotion.label); }
    }
    if (m.complaint_risk != null) { $('risk').value = m.complaint_risk; $('risk-value').textContent = m.complaint_risk.toFixed(2); }
    timer = setTimeout(pump, playing ? Number(($('speed') || {value: 0}).value) : 0);
  } else if (m.type === 'result') {
    ended = true;
    ending = false;
    $('final').innerHTML = m.error ? esc(m.error) : `质检得分 <b>${m.score}</b>/${m.max_score}${m.veto ? ' <span class="veto">否决</span>' : ''} · 未通过：${esc(m.failed.join(' ')) || '无'}${m.key ? ` · <a href="/conversations/${encodeURIComponent(m.key)}">查看详情</a>` : ''}${m.note ? ` · ${esc(m.note)}` : ''}`;
  } else if (m.type === 'error') {
    let pause = 0;
    if (waiting && m.turns != null && m.retry_after != null) {  // sent too fast: the same turn again once allowed
      sent = m.turns;
      pause = Math.ceil(m.retry_after * 1000) + 50;
    } else if (waiting && m.turns != null) {  // the turn in flight was refused: drop it and go on from the server's count
      local.splice(m.turns, 1);
      document.querySelector(`.turn[data-turn="${m.turns}"]`)?.remove();
      sent = m.turns;
    } else if (ending && m.retry_after != null) {  // the end itself was sent too fast: sent again once allowed
      pause = Math.ceil(m.retry_after * 1000) + 50;
    } else {
      ending = false;  // refused for good: 结束并质检 again
    }
    waiting = false;
    $('status').textContent = '错误：' + m.error;
    timer = setTimeout(pump, pause);
  }
}
function pump() {
  // Sends turn `sent` once the previous one is answered; after a reconnect `sent` is the server's count.
  if (waiting || !socket || socket.readyState !== WebSocket.OPEN) return;
  if (sent >= local.length && playing) {
    if (replayed < REPLAY.length) local.push(REPLAY[replayed++]);
    else { playing = false; $('status').textContent = '回放完毕'; $('pause').disabled = true; }
  }
  if (sent >= local.length) {
    // every turn is in: now end (`ending` holds until the result, so an end refused as too fast is sent again)
    if (ending) socket.send(JSON.stringify({type: 'end', store: true}));
    return;
  }
  if (!document.querySelector(`.turn[data-turn="${sent}"]`)) addTurn(sent, local[sent]);
  waiting = true;
  socket.send(JSON.stringify({type: 'turn', seq: sent, ...local[sent]}));
  sent += 1;
}
$('say').onsubmit = event => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  local.push({role: $('role').value, text});
  $('text').value = '';
  $('role').value = $('role').value === 'agent' ? 'customer' : 'agent';
  if (!socket) connect(); else pump();
};
$('end').onclick = () => { ending = true; playing = false; if (!socket) connect(); else pump(); };
if ($('play')) {
  $('play').onclick = () => { playing = true; $('play').disabled = true; $('pause').disabled = false; if (!socket) connect(); else pump(); };
  $('pause').onclick = () => { playing = false; clearTimeout(timer); $('play').disabled = false; $('pause').disabled = true; };
}
