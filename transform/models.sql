-- Analyst models over the tables tap-pinterest-ads loads (PostgreSQL).
-- Plain views, created beside the tables: run with the load schema on the search path, e.g. for
-- the Meltano `dev` environment (`make pg`, schema pinterest_ads):
--   PGOPTIONS='-c search_path=pinterest_ads' psql -h 127.0.0.1 -p 15432 -U postgres -d postgres \
--     -v ON_ERROR_STOP=1 -f transform/models.sql
-- The views over pinterest_ad_snapshots (opt-in stream) are created once that table exists; until
-- then a NOTICE says they were skipped, and rerunning this file after a snapshot sync adds them.
-- target-postgres stores date-time columns as naive timestamps holding UTC (meltano.yml pins
-- the loader's session to UTC); `col AT TIME ZONE 'UTC'` reads one as a timestamptz.

-- New ads per day per search: when the ad library found them (UTC days: the stored value is
-- naive UTC, so cast it directly; via timestamptz the day would follow the session's zone).
CREATE OR REPLACE VIEW new_ads_per_day AS
SELECT
    search_name,
    datefound::date AS found_on,
    count(*) AS new_ads
FROM pinterest_ads
WHERE datefound IS NOT NULL
GROUP BY search_name, found_on;

-- Advertisers by reach in the library: ads, saves and repins summed over their ads.
CREATE OR REPLACE VIEW top_advertisers AS
SELECT
    page_id,
    max(page_name) AS page_name,
    count(*) AS ads,
    coalesce(sum(likes), 0) AS saves,
    coalesce(sum(shares), 0) AS repins,
    max(daysrunning) AS longest_days_running,
    rank() OVER (ORDER BY count(*) DESC, coalesce(sum(likes), 0) DESC) AS rank_by_ads
FROM pinterest_ads
WHERE page_id IS NOT NULL
GROUP BY page_id;

-- How long ads run: the distribution analysts look at first.
CREATE OR REPLACE VIEW days_running_distribution AS
SELECT
    CASE
        WHEN daysrunning < 8 THEN '0-7'
        WHEN daysrunning < 31 THEN '8-30'
        WHEN daysrunning < 91 THEN '31-90'
        WHEN daysrunning < 181 THEN '91-180'
        ELSE '181+'
    END AS days_running,
    min(daysrunning) AS bucket_floor,
    count(*) AS ads
FROM pinterest_ads
WHERE daysrunning IS NOT NULL
GROUP BY 1;

DO $models$
BEGIN
    IF to_regclass('pinterest_ad_snapshots') IS NULL THEN
        RAISE NOTICE 'pinterest_ad_snapshots not loaded yet: ad_engagement_growth and winning_ads '
            'skipped (select the stream, sync, and run this file again)';
        RETURN;
    END IF;

    -- Engagement growth per ad, from the snapshot history (needs two observed days or more).
    CREATE OR REPLACE VIEW ad_engagement_growth AS
    WITH bounds AS (
        SELECT
            id,
            min(snapshot_date) AS first_day,
            max(snapshot_date) AS last_day,
            count(*) AS snapshots
        FROM pinterest_ad_snapshots
        GROUP BY id
    )
    SELECT
        b.id,
        b.first_day,
        b.last_day,
        b.snapshots,
        f.saves AS first_saves,
        l.saves AS last_saves,
        l.saves - f.saves AS saves_growth,
        l.repins - f.repins AS repins_growth,
        round((l.saves - f.saves)::numeric / (b.last_day - b.first_day), 2) AS saves_per_day,
        l.daysrunning AS days_running
    FROM bounds AS b
    JOIN pinterest_ad_snapshots AS f ON f.id = b.id AND f.snapshot_date = b.first_day
    JOIN pinterest_ad_snapshots AS l ON l.id = b.id AND l.snapshot_date = b.last_day
    WHERE b.last_day > b.first_day;

    -- "Winning" ads: still running after 30 days and still gaining saves.
    CREATE OR REPLACE VIEW winning_ads AS
    SELECT
        a.id,
        a.search_name,
        a.page_name,
        a.pin_url,
        g.days_running,
        g.last_saves AS saves,
        g.saves_growth,
        g.saves_per_day,
        a.adscore
    FROM ad_engagement_growth AS g
    JOIN pinterest_ads AS a ON a.id = g.id
    WHERE g.days_running >= 30 AND g.saves_growth > 0
    ORDER BY g.saves_per_day DESC, a.id;
END
$models$;

-- v5 campaign performance (streams campaigns and campaign_analytics, default analytics_columns):
-- spend, impressions (PAID_IMPRESSION), clicks (TOTAL_CLICKTHROUGH), conversion value
-- (TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR) and the ratios CTR = clicks / impressions,
-- CPC = spend / clicks, CPM = spend / impressions * 1000, ROAS = conversion value / spend; per
-- campaign and day, per campaign, and per day and currency over all campaigns. Money is in the
-- ad account's currency (the API's micro-units / 1e6), never summed across currencies; a ratio is
-- NULL where its denominator is 0. Analytics columns keep the API's upper-case names, hence the
-- quotes.
DO $v5_models$
BEGIN
    IF to_regclass('campaign_analytics') IS NULL OR to_regclass('campaigns') IS NULL THEN
        RAISE NOTICE 'campaign_analytics or campaigns not loaded yet: campaign_daily_performance, '
            'campaign_performance and daily_performance skipped (select both streams, sync, and '
            'run this file again)';
        RETURN;
    END IF;

    -- The four ratios, defined once for every view below.
    CREATE OR REPLACE FUNCTION pinterest_ratios(
        spend numeric, impressions numeric, clicks numeric, conversion_value numeric,
        OUT ctr numeric, OUT cpc numeric, OUT cpm numeric, OUT roas numeric
    ) LANGUAGE sql IMMUTABLE AS $ratios$
        SELECT
            clicks / NULLIF(impressions, 0),
            spend / NULLIF(clicks, 0),
            spend / NULLIF(impressions, 0) * 1000,
            conversion_value / NULLIF(spend, 0)
    $ratios$;

    CREATE OR REPLACE VIEW campaign_daily_performance AS
    WITH base AS (
        SELECT
            a."DATE" AS day,
            a."CAMPAIGN_ID" AS campaign_id,
            c.name AS campaign_name,
            a."AD_ACCOUNT_ID" AS ad_account_id,
            a."CURRENCY" AS currency,
            coalesce(a."SPEND_IN_MICRO_DOLLAR", 0)::numeric / 1000000 AS spend,
            coalesce(a."PAID_IMPRESSION", 0)::numeric AS impressions,
            coalesce(a."TOTAL_CLICKTHROUGH", 0)::numeric AS clicks,
            coalesce(a."TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", 0)::numeric / 1000000
                AS conversion_value
        FROM campaign_analytics AS a
        LEFT JOIN campaigns AS c ON c.id = a."CAMPAIGN_ID"
    )
    SELECT b.*, r.*
    FROM base AS b, pinterest_ratios(b.spend, b.impressions, b.clicks, b.conversion_value) AS r;

    CREATE OR REPLACE VIEW campaign_performance AS
    WITH totals AS (
        SELECT
            campaign_id,
            max(campaign_name) AS campaign_name,
            max(ad_account_id) AS ad_account_id,
            max(currency) AS currency,
            min(day) AS first_day,
            max(day) AS last_day,
            sum(spend) AS spend,
            sum(impressions) AS impressions,
            sum(clicks) AS clicks,
            sum(conversion_value) AS conversion_value
        FROM campaign_daily_performance
        GROUP BY campaign_id
    )
    SELECT t.*, r.*
    FROM totals AS t, pinterest_ratios(t.spend, t.impressions, t.clicks, t.conversion_value) AS r;

    CREATE OR REPLACE VIEW daily_performance AS
    WITH totals AS (
        SELECT
            day,
            currency,
            count(*) AS campaigns,
            sum(spend) AS spend,
            sum(impressions) AS impressions,
            sum(clicks) AS clicks,
            sum(conversion_value) AS conversion_value
        FROM campaign_daily_performance
        GROUP BY day, currency
    )
    SELECT t.*, r.*
    FROM totals AS t, pinterest_ratios(t.spend, t.impressions, t.clicks, t.conversion_value) AS r;
END
$v5_models$;
