/** "Test against an event": `POST …/rules/{id}/test {event}` and what it would produce. */
import { useState } from 'react';
import {
  Alert,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  TextField,
  Typography,
} from '@mui/material';
import Science from '@mui/icons-material/Science';
import { useDataProvider, usePermissions, useRecordContext, useTranslate } from 'react-admin';
import type { NotifyProDataProvider } from '../../providers/dataProvider';
import { JsonBlock } from '../../components/JsonBlock';
import { atLeast } from '../../providers/roles';
import { MessagePreview } from './TelegramPreview';
import { SAMPLE_EVENT } from './template';

/**
 * The sample event, coming from the rule's first source: a rule limited to some webhooks or
 * mailboxes matches only events from them, so a bare sample would never match.
 */
export function sampleEventFor(rule: Record<string, unknown>) {
  const { source: _source, mailbox: _mailbox, ...mail } = SAMPLE_EVENT;
  const sources = (rule.sources ?? {}) as { mailboxIds?: string[]; webhookIds?: string[] };
  const webhookId = sources.webhookIds?.[0];
  const mailboxId = sources.mailboxIds?.[0];
  if (mailboxId) return { source: 'mail', mailboxId, ...mail };
  if (webhookId) return { source: 'webhook', webhookId, subject: mail.subject, body: mail.body };
  return SAMPLE_EVENT;
}

interface RuleTestResult {
  matched?: boolean;
  text?: string;
  targets?: { chatId: string; botId?: string; text?: string }[];
  [key: string]: unknown;
}

/**
 * Shown to every member, viewers included: a test changes nothing and the server lets viewers
 * run it (`POST …/rules/{id}/test` needs `viewer`), unlike editing the rule (`operator`).
 */
export function RuleTestButton() {
  const record = useRecordContext();
  const { permissions } = usePermissions();
  const can = atLeast(permissions, 'viewer');
  const translate = useTranslate();
  const dataProvider = useDataProvider<NotifyProDataProvider>();
  const [open, setOpen] = useState(false);
  const [eventText, setEventText] = useState<string | null>(null);
  const [result, setResult] = useState<RuleTestResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!record || !can) return null;

  const run = async () => {
    setError(null);
    setResult(null);
    let event: unknown;
    try {
      event = JSON.parse(eventText ?? JSON.stringify(sampleEventFor(record)));
    } catch {
      setError(translate('np.errors.bad_json'));
      return;
    }
    setBusy(true);
    try {
      setResult(await dataProvider.action<RuleTestResult>('rules', record.id, 'test', { event }));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const texts = result
    ? [result.text, ...(result.targets ?? []).map((t) => t.text)].filter(
        (t, i, all): t is string => typeof t === 'string' && all.indexOf(t) === i,
      )
    : [];

  return (
    <>
      <Button startIcon={<Science />} onClick={() => setOpen(true)} size="small">
        {translate('np.rules.test')}
      </Button>
      <Dialog open={open} onClose={() => setOpen(false)} fullWidth maxWidth="md">
        <DialogTitle>{translate('np.rules.test_title')}</DialogTitle>
        <DialogContent>
          <TextField
            label={translate('np.rules.event_json')}
            value={eventText ?? JSON.stringify(sampleEventFor(record), null, 2)}
            onChange={(e) => setEventText(e.target.value)}
            multiline
            minRows={8}
            fullWidth
            sx={{ mt: 1, '& textarea': { fontFamily: 'monospace', fontSize: 12 } }}
          />
          {error ? (
            <Alert severity="error" sx={{ mt: 2 }}>
              {error}
            </Alert>
          ) : null}
          {result ? (
            <Box sx={{ mt: 2 }} data-testid="rule-test-result">
              {result.matched !== undefined ? (
                <Alert severity={result.matched ? 'success' : 'info'} sx={{ mb: 1 }}>
                  {translate(
                    result.matched ? 'np.rules.test_matched' : 'np.rules.test_not_matched',
                  )}
                </Alert>
              ) : null}
              {texts.map((t, i) => (
                <Box key={i} sx={{ mb: 1 }}>
                  <MessagePreview text={t} format="html" />
                </Box>
              ))}
              <Typography variant="caption">{translate('np.common.raw_answer')}</Typography>
              <JsonBlock value={result} maxHeight={240} />
            </Box>
          ) : null}
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setOpen(false)}>{translate('ra.action.close')}</Button>
          <Button variant="contained" onClick={() => void run()} disabled={busy}>
            {translate('np.rules.run_test')}
          </Button>
        </DialogActions>
      </Dialog>
    </>
  );
}
