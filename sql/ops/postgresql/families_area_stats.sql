-- Statistics on a family's postcode district and area (PostgreSQL 14+), so the planner knows how
-- many families the cohort page's area filter keeps and walks the list in priority order.
create statistics if not exists linked.families_area on (split_part(postcode, ' ', 1)),
  (regexp_replace(split_part(postcode, ' ', 1), '[0-9].*$', '')) from linked.families
