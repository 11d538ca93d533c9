/** Shows a message the way Telegram would, from Telegram-HTML, without ever injecting HTML. */
import { Fragment, type ReactNode } from 'react';
import { Alert, Box, Paper } from '@mui/material';
import { useTranslate } from 'react-admin';
import { renderTemplate } from './template';

const TAGS: Record<string, string> = {
  b: 'strong',
  strong: 'strong',
  i: 'em',
  em: 'em',
  u: 'u',
  ins: 'u',
  s: 's',
  strike: 's',
  del: 's',
  code: 'code',
  pre: 'pre',
  blockquote: 'blockquote',
  a: 'a',
  'tg-spoiler': 'span',
  span: 'span',
};

function safeHref(href: string | null): string | undefined {
  if (!href) return undefined;
  return /^(https?:|tg:|mailto:)/i.test(href.trim()) ? href.trim() : undefined;
}

function convert(node: Node, unsupported: Set<string>, key: string): ReactNode {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent;
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = node as Element;
  const tag = el.tagName.toLowerCase();
  const children = Array.from(el.childNodes).map((c, i) => convert(c, unsupported, `${key}.${i}`));
  const target = TAGS[tag];
  if (!target) {
    unsupported.add(tag);
    return <Fragment key={key}>{children}</Fragment>;
  }
  if (tag === 'a') {
    return (
      <a
        key={key}
        href={safeHref(el.getAttribute('href'))}
        target="_blank"
        rel="noreferrer noopener"
      >
        {children}
      </a>
    );
  }
  if (tag === 'tg-spoiler' || (tag === 'span' && el.classList.contains('tg-spoiler'))) {
    return (
      <Box key={key} component="span" sx={{ bgcolor: 'text.disabled', borderRadius: 0.5 }}>
        {children}
      </Box>
    );
  }
  if (tag === 'pre' || tag === 'code') {
    return (
      <Box key={key} component={target as 'pre'} sx={{ fontFamily: 'monospace', m: 0 }}>
        {children}
      </Box>
    );
  }
  const Tag = target as 'strong';
  return <Tag key={key}>{children}</Tag>;
}

/** Telegram-HTML → React elements; returns the tags Telegram would reject. */
export function telegramHtmlToReact(html: string): { nodes: ReactNode; unsupported: string[] } {
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
  const unsupported = new Set<string>();
  const nodes = Array.from(doc.body.childNodes).map((n, i) => convert(n, unsupported, String(i)));
  return { nodes, unsupported: [...unsupported] };
}

export type MessageFormat = 'html' | 'text' | 'markdown';

/** A Telegram-like bubble with the rendered message. */
export function MessagePreview({
  text,
  format = 'html',
}: {
  text: string;
  format?: MessageFormat;
}) {
  const translate = useTranslate();
  const { nodes, unsupported } =
    format === 'html' ? telegramHtmlToReact(text) : { nodes: text, unsupported: [] as string[] };
  return (
    <Box>
      <Paper
        elevation={0}
        data-testid="message-preview"
        sx={{
          p: 1.5,
          maxWidth: 480,
          borderRadius: 2,
          borderTopLeftRadius: 4,
          bgcolor: (t) => (t.palette.mode === 'dark' ? '#2b5278' : '#eeffde'),
          color: (t) => (t.palette.mode === 'dark' ? '#fff' : '#000'),
          whiteSpace: 'pre-wrap',
          wordBreak: 'break-word',
          fontSize: 15,
        }}
      >
        {text.trim() === '' ? (
          <Box component="span" sx={{ opacity: 0.6 }}>
            {translate('np.preview.empty')}
          </Box>
        ) : (
          nodes
        )}
      </Paper>
      {unsupported.length > 0 ? (
        <Alert severity="warning" sx={{ mt: 1, maxWidth: 480 }}>
          {translate('np.preview.unsupported', {
            tags: unsupported.map((t) => `<${t}>`).join(', '),
          })}
        </Alert>
      ) : null}
      {text.length > 4096 ? (
        <Alert severity="info" sx={{ mt: 1, maxWidth: 480 }}>
          {translate('np.preview.too_long', { length: text.length })}
        </Alert>
      ) : null}
    </Box>
  );
}

/** The template rendered with the sample event's variables. */
export function TemplatePreview({
  template,
  variables,
}: {
  template: string;
  variables: Record<string, unknown>;
}) {
  return <MessagePreview text={renderTemplate(template, variables)} format="html" />;
}
