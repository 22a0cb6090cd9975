// A small, safe Markdown renderer: it builds DOM nodes with createElement
// and text nodes, never innerHTML, so model or user text can not become
// markup. Links are made only for http(s) URLs; anything else stays text.
//
// Blocks: paragraphs, ATX headings, fenced code, block quotes, bullet and
// numbered lists, horizontal rules. Inline: code spans, **bold**,
// *italic* / _italic_, ~~strike~~, [links](https://…), bare https URLs.

import { h, isSafeUrl } from './dom.js';

/** Renders `text` into a fresh DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  renderBlocks(lines, fragment);
  return fragment;
}

function renderBlocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end while streaming)
      const code = h('code', { text: body.join('\n') });
      if (fence[2]) code.dataset.lang = fence[2];
      parent.append(h('pre', {}, code));
      continue;
    }
    const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const level = Math.min(heading[1].length + 2, 6); // h3..h6 inside a message
      parent.append(inline(h(`h${level}`), heading[2]));
      i += 1;
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      parent.append(h('hr'));
      i += 1;
      continue;
    }
    if (/^\s{0,3}>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) {
        body.push(lines[i].replace(/^\s{0,3}>\s?/, ''));
        i += 1;
      }
      const quote = h('blockquote');
      renderBlocks(body, quote);
      parent.append(quote);
      continue;
    }
    const item = listItem(line);
    if (item) {
      const list = h(item.ordered ? 'ol' : 'ul');
      if (item.ordered && item.start !== 1) list.setAttribute('start', String(item.start));
      while (i < lines.length) {
        const next = listItem(lines[i]);
        if (!next || next.ordered !== item.ordered) break;
        const body = [next.text];
        i += 1;
        // Indented lines (continuations, nested lists) belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i])) {
          body.push(lines[i].replace(/^\s{2,4}/, ''));
          i += 1;
        }
        const li = h('li');
        if (body.length === 1) inline(li, body[0]);
        else renderBlocks(body, li);
        list.append(li);
        if (i < lines.length && !lines[i].trim() && listItem(lines[i + 1] || '')) i += 1;
      }
      parent.append(list);
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^\s*(```|~~~)/.test(lines[i]) &&
      !/^\s{0,3}(#{1,6}\s|>)/.test(lines[i]) &&
      !(paragraph.length && listItem(lines[i]))
    ) {
      paragraph.push(lines[i].trim());
      i += 1;
    }
    const p = h('p');
    paragraph.forEach((text, n) => {
      if (n) p.append(h('br'));
      inline(p, text);
    });
    parent.append(p);
  }
}

function listItem(line) {
  const bullet = line.match(/^\s{0,3}[-*+]\s+(.*)$/);
  if (bullet) return { ordered: false, text: bullet[1] };
  const number = line.match(/^\s{0,3}(\d{1,9})[.)]\s+(.*)$/);
  if (number) return { ordered: true, start: Number(number[1]), text: number[2] };
  return null;
}

// Inline spans, in order of precedence. Each rule's first group is its
// content (or the URL for bare links).
const INLINE = [
  { re: /`([^`]+)`/, make: (m) => h('code', { text: m[1] }) },
  { re: /\[([^\]]+)\]\(([^()\s]+(?:\([^()\s]*\))?)(?:\s+"[^"]*")?\)/, make: link },
  { re: /\*\*(.+?)\*\*|__(.+?)__/, make: (m) => inline(h('strong'), m[1] ?? m[2]) },
  { re: /~~(.+?)~~/, make: (m) => inline(h('del'), m[1]) },
  { re: /\*(?!\s)(.+?)\*|(?<![\w])_(?!\s)(.+?)_(?![\w])/, make: (m) => inline(h('em'), m[1] ?? m[2]) },
  { re: /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/, make: (m) => link([m[0], m[0], m[0]]) },
];

/** Appends the inline rendering of `text` to `el` and returns `el`. */
function inline(el, text) {
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (!best || m.index < best.m.index)) best = { m, rule };
    }
    if (!best) {
      el.append(document.createTextNode(rest));
      break;
    }
    if (best.m.index) el.append(document.createTextNode(rest.slice(0, best.m.index)));
    el.append(best.rule.make(best.m));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return el;
}

function link(m) {
  const [whole, label, url] = m;
  if (!isSafeUrl(url) || !/^https?:/i.test(url)) return document.createTextNode(whole);
  const a = h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow' });
  return label === url ? (a.append(document.createTextNode(url)), a) : inline(a, label);
}
