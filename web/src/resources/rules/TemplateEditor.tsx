/** The template input with a live preview rendered from an editable sample event. */
import { useState } from 'react';
import { Box, Chip, Stack, TextField, Typography } from '@mui/material';
import { TextInput, useTranslate } from 'react-admin';
import { useFormContext, useWatch } from 'react-hook-form';
import { TemplatePreview } from './TelegramPreview';
import { SAMPLE_EVENT, templateVariables } from './template';

export function useSampleEvent(): [
  Record<string, unknown>,
  string,
  (text: string) => void,
  boolean,
] {
  const [text, setText] = useState(() => JSON.stringify(SAMPLE_EVENT, null, 2));
  const [parsed, setParsed] = useState<Record<string, unknown>>(SAMPLE_EVENT);
  const [valid, setValid] = useState(true);
  const update = (next: string) => {
    setText(next);
    try {
      const value = JSON.parse(next) as unknown;
      if (value && typeof value === 'object') {
        setParsed(value as Record<string, unknown>);
        setValid(true);
        return;
      }
    } catch {
      // keep the last good sample while the user types
    }
    setValid(false);
  };
  return [parsed, text, update, valid];
}

export function TemplateEditor() {
  const translate = useTranslate();
  const template = (useWatch({ name: 'template' }) as string | undefined) ?? '';
  const { setValue, getValues } = useFormContext();
  const [sample, sampleText, setSampleText, sampleValid] = useSampleEvent();
  const insert = (variable: string) =>
    setValue('template', `${(getValues('template') as string | undefined) ?? ''}{{${variable}}}`, {
      shouldDirty: true,
    });

  return (
    <Stack direction={{ xs: 'column', md: 'row' }} spacing={2} sx={{ width: '100%' }}>
      <Box sx={{ flex: 1, minWidth: 0 }}>
        <TextInput
          source="template"
          multiline
          minRows={5}
          fullWidth
          helperText="np.rules.template_help"
        />
        <Typography variant="caption" color="text.secondary">
          {translate('np.rules.variables')}
        </Typography>
        <Box sx={{ display: 'flex', flexWrap: 'wrap', gap: 0.5, mt: 0.5 }}>
          {templateVariables(sample).map((v) => (
            <Chip key={v} size="small" label={`{{${v}}}`} onClick={() => insert(v)} />
          ))}
        </Box>
      </Box>
      <Box sx={{ flex: 1, minWidth: 0 }}>
        <Typography variant="subtitle2" gutterBottom>
          {translate('np.rules.preview')}
        </Typography>
        <TemplatePreview template={template} variables={sample} />
        <TextField
          label={translate('np.rules.sample_event')}
          value={sampleText}
          onChange={(e) => setSampleText(e.target.value)}
          error={!sampleValid}
          helperText={
            sampleValid ? translate('np.rules.sample_help') : translate('np.errors.bad_json')
          }
          multiline
          minRows={4}
          maxRows={14}
          fullWidth
          size="small"
          sx={{ mt: 2, '& textarea': { fontFamily: 'monospace', fontSize: 12 } }}
        />
      </Box>
    </Stack>
  );
}
