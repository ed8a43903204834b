from tap_pinterest_ads.tap import TapPinterestAds

TapPinterestAds.cli()
