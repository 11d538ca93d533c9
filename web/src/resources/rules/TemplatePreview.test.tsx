import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { MessagePreview, TemplatePreview } from './TelegramPreview';
import { escapeHtml, renderTemplate, templateVariables } from './template';

afterEach(cleanup);

const event = {
  subject: 'Disk <full> & "hot"',
  from: 'alerts@example.com',
  text: '<script>alert(1)</script>',
  mailbox: 'Ops',
  headers: { 'X-Priority': '1' },
  body: { host: 'db-1', nested: { level: 'critical' } },
};

describe('renderTemplate', () => {
  it('substitutes variables, nested body paths and headers', () => {
    expect(
      renderTemplate(
        '{{mailbox}}: {{ from }} {{body.host}}/{{body.nested.level}} p{{header:X-Priority}}',
        event,
      ),
    ).toBe('Ops: alerts@example.com db-1/critical p1');
  });

  it('escapes HTML in values but keeps the template markup', () => {
    expect(renderTemplate('<b>{{subject}}</b>', event)).toBe(
      '<b>Disk &lt;full&gt; &amp; &quot;hot&quot;</b>',
    );
  });

  it('renders unknown variables empty', () => {
    expect(renderTemplate('[{{nope}}][{{body.missing.deep}}]', event)).toBe('[][]');
  });

  it('offers headers as the server names them (header:<Name>)', () => {
    const names = templateVariables(event);
    expect(names).toContain('header:X-Priority');
    expect(names).toContain('body.nested.level');
    expect(names.some((n) => n.startsWith('headers.'))).toBe(false);
  });

  it('escapes the four HTML specials', () => {
    expect(escapeHtml('<a href="x">&</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  });
});

describe('TemplatePreview', () => {
  it('shows substituted values with template tags as formatting and value markup as text', () => {
    render(<TemplatePreview template={'<b>{{subject}}</b>\n{{text}}'} variables={event} />);
    const bubble = screen.getByTestId('message-preview');
    expect(bubble.textContent).toBe('Disk <full> & "hot"\n<script>alert(1)</script>');
    expect(bubble.querySelector('strong')?.textContent).toBe('Disk <full> & "hot"');
    expect(bubble.querySelector('script')).toBeNull();
  });

  it('never renders tags Telegram does not support, and says so', () => {
    render(
      <TemplatePreview
        template={'<div onclick="x()">hi</div><img src=x onerror=alert(1)>'}
        variables={event}
      />,
    );
    const bubble = screen.getByTestId('message-preview');
    expect(bubble.querySelector('div, img')).toBeNull();
    expect(bubble.textContent).toBe('hi');
    expect(screen.getByText(/np.preview.unsupported/)).toBeTruthy();
  });

  it('keeps only safe link targets', () => {
    render(
      <TemplatePreview
        template={'<a href="javascript:alert(1)">x</a><a href="https://example.com">y</a>'}
        variables={{}}
      />,
    );
    const links = screen.getByTestId('message-preview').querySelectorAll('a');
    expect(links[0]?.getAttribute('href')).toBeNull();
    expect(links[1]?.getAttribute('href')).toBe('https://example.com');
  });

  it('shows plain text as typed when the format is text', () => {
    render(<MessagePreview text="<b>not bold</b>" format="text" />);
    const bubble = screen.getByTestId('message-preview');
    expect(bubble.textContent).toBe('<b>not bold</b>');
    expect(bubble.querySelector('strong')).toBeNull();
  });
});
