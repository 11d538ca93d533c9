import { useState } from 'react';
import { IconButton, Tooltip } from '@mui/material';
import ContentCopy from '@mui/icons-material/ContentCopy';
import Check from '@mui/icons-material/Check';
import { useTranslate } from 'react-admin';

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP installs have no Clipboard API: fall back to a selected textarea.
  const ta = document.createElement('textarea');
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
}

export function CopyButton({ value, label }: { value: string; label?: string }) {
  const translate = useTranslate();
  const [done, setDone] = useState(false);
  return (
    <Tooltip title={done ? translate('np.common.copied') : (label ?? translate('np.common.copy'))}>
      <IconButton
        size="small"
        aria-label={label ?? translate('np.common.copy')}
        onClick={(e) => {
          e.stopPropagation();
          void copyText(value).then(() => {
            setDone(true);
            setTimeout(() => setDone(false), 1500);
          });
        }}
      >
        {done ? <Check fontSize="small" /> : <ContentCopy fontSize="small" />}
      </IconButton>
    </Tooltip>
  );
}
