"""Every v5 stream of a run, built around one shared `V5Family`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_pinterest_ads.marketing.accounts import AdAccountsStream
from tap_pinterest_ads.marketing.analytics import analytics_streams
from tap_pinterest_ads.marketing.audiences import (
    AudiencesStream,
    ConversionTagsStream,
    CustomerListsStream,
)
from tap_pinterest_ads.marketing.campaigns import (
    AdGroupsStream,
    AdsStream,
    CampaignsStream,
    KeywordsStream,
)
from tap_pinterest_ads.marketing.catalogs import (
    CatalogsFeedsStream,
    CatalogsProductGroupsStream,
    CatalogsStream,
)
from tap_pinterest_ads.marketing.client import V5Family
from tap_pinterest_ads.marketing.organic import (
    BoardPinsStream,
    BoardSectionPinsStream,
    BoardSectionsStream,
    BoardsStream,
)

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap


def v5_streams(tap: Tap) -> list[Stream]:
    family = V5Family(tap)
    ad_groups = AdGroupsStream(tap, family=family)
    simple = (
        CampaignsStream,
        AdsStream,
        AudiencesStream,
        CustomerListsStream,
        ConversionTagsStream,
        CatalogsStream,
        CatalogsFeedsStream,
        CatalogsProductGroupsStream,
        BoardsStream,
        BoardSectionsStream,
        BoardPinsStream,
        BoardSectionPinsStream,
    )
    return [
        AdAccountsStream(tap, family=family),
        ad_groups,
        KeywordsStream(tap, family=family, ad_groups=ad_groups),
        *(stream(tap, family=family) for stream in simple),
        *analytics_streams(tap, family),
    ]
