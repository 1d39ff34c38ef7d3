window.YTD.tweets.part0 = [
  {
    "tweet" : {
      "id_str" : "1829000000000000101",
      "created_at" : "Tue Aug 18 08:30:00 +0000 2026",
      "full_text" : "Community pharmacists and pharmacy technicians: fully-funded places on the Mary #SeacoleProg are coming, thanks to our partners at CPPE. The next nine cohorts open for applications on 27 August. Details: https://t.co/SeaC0le001",
      "entities" : {
        "hashtags" : [ { "text" : "SeacoleProg", "indices" : [ "80", "92" ] } ],
        "urls" : [ {
          "url" : "https://t.co/SeaC0le001",
          "expanded_url" : "https://academy.example.org/news/seacole-community-pharmacy?utm_source=twitter",
          "display_url" : "academy.example.org/news/seacole-c…",
          "indices" : [ "203", "226" ]
        } ]
      },
      "retweeted" : false,
      "favorite_count" : "12"
    }
  },
  {
    "tweet" : {
      "id_str" : "1829000000000000102",
      "created_at" : "Tue Aug 18 15:05:00 +0000 2026",
      "full_text" : "RT @cppeengland: Big news for community pharmacy teams and the Seacole places.",
      "entities" : { "hashtags" : [ ], "urls" : [ ] },
      "retweeted" : false
    }
  },
  {
    "tweet" : {
      "id_str" : "1829000000000000103",
      "created_at" : "Wed Aug 19 09:00:00 +0000 2026",
      "full_text" : "@someone_else thanks, glad you found it useful!",
      "in_reply_to_status_id_str" : "1828999999999999999",
      "in_reply_to_screen_name" : "someone_else",
      "entities" : { "hashtags" : [ ], "urls" : [ ] }
    }
  },
  {
    "tweet" : {
      "id_str" : "1829000000000000104",
      "created_at" : "Thu Aug 20 07:45:00 +0000 2026",
      "full_text" : "Senior leaders are living through a lot of change right now. Our executive coaching offer gives you protected time with an experienced coach to think it through. Request yours today https://t.co/C0ach00002 https://t.co/Pic0000003",
      "entities" : {
        "hashtags" : [ ],
        "urls" : [ {
          "url" : "https://t.co/C0ach00002",
          "expanded_url" : "https://academy.example.org/news/executive-coaching-support",
          "display_url" : "academy.example.org/news/executive…",
          "indices" : [ "183", "206" ]
        } ],
        "media" : [ {
          "url" : "https://t.co/Pic0000003",
          "display_url" : "pic.x.com/Pic0000003",
          "id_str" : "1829000000000000999",
          "indices" : [ "207", "230" ]
        } ]
      }
    }
  }
]
