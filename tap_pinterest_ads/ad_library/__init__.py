"""The ad-library family: searches of other advertisers' Pinterest ads, walked by scroll cursor."""
