import { Login, LoginForm, useTranslate } from 'react-admin';
import { Box, Link } from '@mui/material';

export function LoginPage() {
  const translate = useTranslate();
  return (
    <Login>
      <LoginForm />
      <Box sx={{ textAlign: 'center', pb: 2 }}>
        <Link href="#/signup" data-testid="signup-link">
          {translate('np.auth.no_account')}
        </Link>
      </Box>
    </Login>
  );
}
