// 我的外呼: 显示号码 asks the audited dial endpoint for one customer's number (POST, with the session's CSRF
// token) and shows it in that row only; it is kept nowhere else. A refusal is shown as the server says it.
document.querySelectorAll('button.reveal').forEach(button => button.addEventListener('click', async () => {
  const out = button.closest('tr').querySelector('.number');
  const url = `/api/campaigns/${encodeURIComponent(button.dataset.campaign)}/customers/${encodeURIComponent(button.dataset.customer)}/dial`;
  button.disabled = true;
  out.classList.remove('error');
  try {
    const response = await fetch(url, {method: 'POST', headers: {'X-CSRF-Token': zuoxi.csrf(), accept: 'application/json'}});
    const answer = await response.json().catch(() => ({}));
    if (response.ok && typeof answer.phone === 'string') {
      out.textContent = answer.phone;
      return;
    }
    out.textContent = typeof answer.detail === 'string' ? answer.detail : `没有取到号码（HTTP ${response.status}），请刷新后重试`;
  } catch (error) {
    out.textContent = '网络错误，没有取到号码，请重试';
  }
  out.classList.add('error');
  button.disabled = false;
}));
