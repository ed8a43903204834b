"""The Pinterest API v5 family: your own ad accounts, catalogs and boards, with OAuth."""
