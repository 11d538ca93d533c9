import { Alert, Box, Typography } from '@mui/material';
import { CopyButton } from './CopyButton';

/** A value shown in full with a copy button, e.g. a new API key that is never shown again. */
export function SecretValue({
  label,
  value,
  warning,
}: {
  label: string;
  value: string;
  warning?: string;
}) {
  return (
    <Box sx={{ my: 1 }}>
      <Typography variant="caption" color="text.secondary">
        {label}
      </Typography>
      <Box
        sx={{
          display: 'flex',
          alignItems: 'center',
          gap: 1,
          p: 1,
          borderRadius: 1,
          bgcolor: 'action.hover',
          fontFamily: 'monospace',
          wordBreak: 'break-all',
        }}
      >
        <Box component="code" sx={{ flex: 1 }} data-testid="secret-value">
          {value}
        </Box>
        <CopyButton value={value} />
      </Box>
      {warning ? (
        <Alert severity="warning" sx={{ mt: 1 }}>
          {warning}
        </Alert>
      ) : null}
    </Box>
  );
}
